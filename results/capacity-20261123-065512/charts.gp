
set datafile separator "\t"
set key top left
set grid
set logscale x 2
set xlabel "users (N)"
set format x "%g"
do for [t in "svg pngcairo"] {
  ext = (t eq "svg") ? "svg" : "png"
  if (t eq "svg") { set terminal svg size 800,480 dynamic font "sans,12" } else { set terminal pngcairo size 800,480 font "sans,10" }
  set output "/work/main/results/capacity-20261123-065512/latency.".ext
  set title "School scenario: send -> deliver latency (2 cores, everything on one machine)"
  set ylabel "ms"
  set logscale y
  plot "/work/main/results/capacity-20261123-065512/steps.tsv" using 1:3 with linespoints lw 2 title "p50", \
       "" using 1:4 with linespoints lw 2 title "p99", \
       "" using 1:5 with linespoints lw 1 title "p99.9", \
       250 with lines dt 2 lc rgb "red" title "p99 limit 250 ms"
  unset logscale y
  set output "/work/main/results/capacity-20261123-065512/throughput.".ext
  set title "School scenario: throughput (2 cores, everything on one machine)"
  set ylabel "per second"
  set logscale y
  plot "/work/main/results/capacity-20261123-065512/steps.tsv" using 1:6 with linespoints lw 2 title "deliveries/s", \
       "" using 1:7 with linespoints lw 2 title "sends/s"
  unset logscale y
  set output "/work/main/results/capacity-20261123-065512/cpu.".ext
  set title "CPU per component (cores; the machine has 2)"
  set ylabel "cores"
  set yrange [0:*]
  plot for [i=0:11] "/work/main/results/capacity-20261123-065512/cpu.tsv" using 1:(column(i+2)) with linespoints lw 2 title columnheader(i+2)
  set output "/work/main/results/capacity-20261123-065512/cpu-per-delivery.".ext
  set title "CPU per delivered message"
  set ylabel "microseconds"
  plot "/work/main/results/capacity-20261123-065512/steps.tsv" using 1:8 with linespoints lw 2 title "server (all processes)", \
       "" using 1:9 with linespoints lw 2 title "loadgen", \
       3 with lines dt 2 lc rgb "red" title "server target 3 us", \
       2 with lines dt 3 lc rgb "blue" title "loadgen target 2 us"
  set yrange [*:*]
}
