module highperf/bench/peers/go

go 1.19
