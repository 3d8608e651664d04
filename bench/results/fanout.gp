set terminal pngcairo size 1250,580 noenhanced
set output '/work/main/bench/results/fanout.png'
set title 'Fan-out: latency against delivery rate (Socket.IO, 100-byte payload; dotted line: 50 ms)'
set xlabel 'deliveries per second'
set ylabel 'latency (ms)'
set logscale xy
set grid
set key outside right top
set arrow from graph 0, first 50 to graph 1, first 50 nohead dt 3 lc rgb 'gray'
plot '/work/main/bench/results/fanout-switchboard.dat' using 1:3 with linespoints lw 2 dt 1 pt 7 lc rgb '#1f77b4' title 'switchboard, 10000 clients: p99', \
  '/work/main/bench/results/fanout-switchboard.dat' using 1:2 with points pt 6 lc rgb '#1f77b4' title 'switchboard, 10000 clients: p50', \
  '/work/main/bench/results/fanout-node.dat' using 1:3 with linespoints lw 2 dt 1 pt 7 lc rgb '#d62728' title 'node, 10000 clients: p99', \
  '/work/main/bench/results/fanout-node.dat' using 1:2 with points pt 6 lc rgb '#d62728' title 'node, 10000 clients: p50', \
  '/work/main/bench/results/fanout-1k-switchboard.dat' using 1:3 with linespoints lw 2 dt 2 pt 5 lc rgb '#1f77b4' title 'switchboard, 1000 clients: p99', \
  '/work/main/bench/results/fanout-1k-switchboard.dat' using 1:2 with points pt 4 lc rgb '#1f77b4' title 'switchboard, 1000 clients: p50', \
  '/work/main/bench/results/fanout-1k-node.dat' using 1:3 with linespoints lw 2 dt 2 pt 5 lc rgb '#d62728' title 'node, 1000 clients: p99', \
  '/work/main/bench/results/fanout-1k-node.dat' using 1:2 with points pt 4 lc rgb '#d62728' title 'node, 1000 clients: p50', \
  '/work/main/bench/results/fanout-100-switchboard.dat' using 1:3 with linespoints lw 2 dt 4 pt 9 lc rgb '#1f77b4' title 'switchboard, 100 clients (--write-delay 5): p99', \
  '/work/main/bench/results/fanout-100-switchboard.dat' using 1:2 with points pt 8 lc rgb '#1f77b4' title 'switchboard, 100 clients (--write-delay 5): p50', \
  '/work/main/bench/results/fanout-100-node.dat' using 1:3 with linespoints lw 2 dt 4 pt 9 lc rgb '#d62728' title 'node, 100 clients: p99', \
  '/work/main/bench/results/fanout-100-node.dat' using 1:2 with points pt 8 lc rgb '#d62728' title 'node, 100 clients: p50'
