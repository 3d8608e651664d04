set terminal pngcairo size 900,560 noenhanced
set output '/tmp/full-s2/fanout.png'
set title 'Fan-out: latency against delivery rate (Socket.IO, 100-byte payload; dotted line: 50 ms)'
set xlabel 'deliveries per second'
set ylabel 'latency (ms)'
set logscale xy
set grid
set key left top
set arrow from graph 0, first 50 to graph 1, first 50 nohead dt 3 lc rgb 'gray'
plot '/tmp/full-s2/fanout-switchboard.dat' using 1:3 with linespoints lw 2 dt 1 pt 7 lc rgb '#1f77b4' title 'switchboard, 10000 clients: p99', \
  '/tmp/full-s2/fanout-switchboard.dat' using 1:2 with points pt 6 lc rgb '#1f77b4' title 'switchboard, 10000 clients: p50', \
  '/tmp/full-s2/fanout-node.dat' using 1:3 with linespoints lw 2 dt 1 pt 7 lc rgb '#d62728' title 'node, 10000 clients: p99', \
  '/tmp/full-s2/fanout-node.dat' using 1:2 with points pt 6 lc rgb '#d62728' title 'node, 10000 clients: p50', \
  '/tmp/full-s2/fanout-1k-switchboard.dat' using 1:3 with linespoints lw 2 dt 2 pt 5 lc rgb '#1f77b4' title 'switchboard, 1000 clients: p99', \
  '/tmp/full-s2/fanout-1k-switchboard.dat' using 1:2 with points pt 4 lc rgb '#1f77b4' title 'switchboard, 1000 clients: p50', \
  '/tmp/full-s2/fanout-1k-node.dat' using 1:3 with linespoints lw 2 dt 2 pt 5 lc rgb '#d62728' title 'node, 1000 clients: p99', \
  '/tmp/full-s2/fanout-1k-node.dat' using 1:2 with points pt 4 lc rgb '#d62728' title 'node, 1000 clients: p50'
