// `kiln bench` on CUDA engines (bench_cuda.cpp, compiled only when Kiln has its CUDA backend: KILN_HAVE_CUDA).
#pragma once

#include <map>
#include <string>

#include "bench.h"

namespace kiln::cli {

#if KILN_HAVE_CUDA
//! Benchmarks a CUDA engine on `inputs` (host tensors; `firstOutputs` size the output buffers) and fills
//! `result`'s timings and mode. Each of --streams N contexts gets its own non-blocking stream, device buffers and
//! pinned host buffers. One iteration: H2D copies, enqueue, D2H copies, each phase
//! between CUDA events; then a blocking (or, with --spin-wait, busy-polling) wait for the last event. Each context
//! replays its CUDA graph (kiln.h setCudaGraphs) unless --no-cuda-graph; one replay is checked against a plain
//! enqueue first. When the context cannot use a graph (not capturable: a node reads device data on the host) or the
//! replay differs, the mode line says why (with --cuda-graph, a warning too) and the run goes on with plain
//! enqueues. Errors name the CUDA call and the tensor.
Status runCudaBench(const Engine& engine, const BenchOptions& options, const std::map<std::string, Tensor>& inputs,
                    const std::map<std::string, Tensor>& firstOutputs, BenchResult& result);

//! True when a CUDA GPU is usable: the backend Backend::kAuto builds for (builder.cpp decides the same way).
bool cudaGpuPresent();
#endif

}  // namespace kiln::cli
