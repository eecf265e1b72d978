// `kiln bench --plot f.png`: the latency histogram (top) and the latency of each iteration over time (bottom),
// drawn with plain pixel code (axes, bars, dots, a 5x7 bitmap font for the labels) and written with stb.
#pragma once

#include <string>

#include "bench.h"
#include "kiln/status.h"

namespace kiln::cli {

Status writeLatencyPlot(const std::string& path, const BenchResult& result);

}  // namespace kiln::cli
