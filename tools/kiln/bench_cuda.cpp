// `kiln bench` on a CUDA engine: device and pinned buffers per context, one iteration = H2D, enqueue (a CUDA graph
// replay by default: kiln.h setCudaGraphs), D2H on the context's own stream, each phase between CUDA events, as
// trtexec measures it.
#include "bench_cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/device_memory.h"
#include "backends/cuda/resources.h"
#include "bench_loop.h"
#include "cli.h"

namespace kiln::cli {

namespace {

using cuda::DeviceBuffer;
using cuda::PinnedBuffer;

//! Owns a CUDA handle; `kDestroy` releases it (its error is of no use in a destructor).
template <typename T, cudaError_t (*kDestroy)(T)>
class Owned {
public:
    Owned() = default;
    explicit Owned(T handle) : mHandle(handle) {}
    Owned(Owned&& o) noexcept : mHandle(std::exchange(o.mHandle, nullptr)) {}
    Owned& operator=(Owned&& o) noexcept {
        if (this != &o) {
            reset();
            mHandle = std::exchange(o.mHandle, nullptr);
        }
        return *this;
    }
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() { reset(); }
    T get() const { return mHandle; }
    void reset() {
        if (mHandle) (void)kDestroy(mHandle);
        mHandle = nullptr;
    }

private:
    T mHandle = nullptr;
};

using Stream = Owned<cudaStream_t, cudaStreamDestroy>;
using Event = Owned<cudaEvent_t, cudaEventDestroy>;

//! One I/O tensor of a context: its device buffer (bound to the context) and the pinned host buffer it is copied
//! from (inputs) or to (outputs).
struct IoBuffer {
    std::string name;
    size_t bytes = 0;
    DeviceBuffer device;
    PinnedBuffer host;
};

//! One stream of the benchmark. Members are destroyed in reverse order: the context (whose library handles are
//! bound to the stream, and whose CUDA graphs hold the buffers' addresses) goes before the buffers and the stream.
struct CudaStream {
    Stream stream;
    Event start;         //!< Before the H2D copies.
    Event computeStart;  //!< After them, before the enqueue.
    Event computeEnd;    //!< After the enqueue, before the D2H copies.
    Event end;           //!< After them; the host waits on this one.
    std::vector<IoBuffer> inputs;
    std::vector<IoBuffer> outputs;
    std::unique_ptr<ExecutionContext> context;
};

Result<Event> makeEvent(unsigned flags) {
    cudaEvent_t e = nullptr;
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&e, flags));
    return Event(e);
}

//! Device and pinned memory for one I/O tensor (at least one byte, so that an empty tensor still has an address).
Result<IoBuffer> makeIoBuffer(const std::string& name, size_t bytes, const char* kind) {
    IoBuffer b;
    b.name = name;
    b.bytes = bytes;
    const std::string what = std::string(kind) + " '" + name + "' (" + std::to_string(bytes) + " bytes)";
    auto device = DeviceBuffer::allocate(std::max<size_t>(bytes, 1));
    if (!device) return device.status().withContext("device buffer of " + what);
    b.device = std::move(device).value();
    auto host = PinnedBuffer::allocate(std::max<size_t>(bytes, 1));
    if (!host) return host.status().withContext("pinned host buffer of " + what);
    b.host = std::move(host).value();
    return b;
}

enum class Direction { kInputsIn, kOutputsOut };

//! The H2D copies of every input from its pinned buffer, or the D2H copies of every output into its pinned buffer.
Status copyAll(CudaStream& s, Direction d) {
    const bool in = d == Direction::kInputsIn;
    for (IoBuffer& b : in ? s.inputs : s.outputs) {
        if (b.bytes == 0) continue;
        void* to = in ? b.device.data() : b.host.data();
        const void* from = in ? b.host.data() : b.device.data();
        KILN_CUDA_CHECK(
            cudaMemcpyAsync(to, from, b.bytes, in ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, s.stream.get()));
    }
    return Status::ok();
}

//! A context on its own stream with every I/O tensor bound to device memory; the inputs are copied to the device
//! once here, so that a run without data transfers computes on the same data.
Result<std::unique_ptr<CudaStream>> makeCudaStream(const Engine& engine, const InputPlan& plan,
                                                   const std::map<std::string, Tensor>& inputs,
                                                   const std::map<std::string, Tensor>& firstOutputs, bool spinWait) {
    auto s = std::make_unique<CudaStream>();
    KILN_ASSIGN_OR_RETURN(s->context, makeContext(engine, plan));
    // Non-blocking: no implicit synchronization with the legacy default stream, which stream capture forbids.
    cudaStream_t raw = nullptr;
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&raw, cudaStreamNonBlocking));
    s->stream = Stream(raw);
    KILN_ASSIGN_OR_RETURN(s->start, makeEvent(cudaEventDefault));
    KILN_ASSIGN_OR_RETURN(s->computeStart, makeEvent(cudaEventDefault));
    KILN_ASSIGN_OR_RETURN(s->computeEnd, makeEvent(cudaEventDefault));
    // A blocking-sync event lets the waiting thread sleep; --spin-wait polls it instead.
    KILN_ASSIGN_OR_RETURN(s->end, makeEvent(spinWait ? cudaEventDefault : cudaEventBlockingSync));
    for (const auto& [name, t] : inputs) {
        KILN_ASSIGN_OR_RETURN(IoBuffer b, makeIoBuffer(name, t.byteSize(), "input"));
        if (t.byteSize() > 0) std::memcpy(b.host.data(), t.raw(), t.byteSize());
        s->inputs.push_back(std::move(b));
    }
    for (const auto& [name, t] : firstOutputs) {
        KILN_ASSIGN_OR_RETURN(IoBuffer b, makeIoBuffer(name, t.byteSize(), "output"));
        s->outputs.push_back(std::move(b));
    }
    for (auto* list : {&s->inputs, &s->outputs}) {
        for (IoBuffer& b : *list) {
            KILN_RETURN_IF_ERROR(s->context->setTensorAddress(b.name, b.device.data(), std::max<size_t>(b.bytes, 1)));
        }
    }
    KILN_RETURN_IF_ERROR(copyAll(*s, Direction::kInputsIn));
    KILN_CUDA_CHECK(cudaStreamSynchronize(s->stream.get()));
    return s;
}

//! The network once on the stream: an enqueue, which replays the context's CUDA graph when it has one.
Status launch(CudaStream& s) { return s.context->enqueue(s.stream.get()); }

//! The pinned copies of every output after one launch (the D2H copies and a synchronization included).
Result<std::vector<std::string>> outputsAfterLaunch(CudaStream& s) {
    KILN_RETURN_IF_ERROR(launch(s));
    KILN_RETURN_IF_ERROR(copyAll(s, Direction::kOutputsOut));
    KILN_CUDA_CHECK(cudaStreamSynchronize(s.stream.get()));
    std::vector<std::string> bytes;
    for (const IoBuffer& b : s.outputs) bytes.emplace_back(static_cast<const char*>(b.host.data()), b.bytes);
    return bytes;
}

bool onGraph(const ExecutionContext& c) {
    const EnqueuePath p = c.getLastEnqueuePath();
    return p == EnqueuePath::kGraphCaptured || p == EnqueuePath::kGraphUpdated || p == EnqueuePath::kGraphReplayed;
}

//! Replays the context's graph once against a plain enqueue. A graph holds only what reached the stream during
//! capture: host work inside enqueue that capture could not see would show here as an output that differs. The
//! device outputs are filled with 0xFF before the replay, so one the graph does not write differs too.
Status checkReplay(CudaStream& s) {
    s.context->setCudaGraphs(false);
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> expected, outputsAfterLaunch(s));
    s.context->setCudaGraphs(true);
    for (const IoBuffer& b : s.outputs) {
        if (b.bytes > 0) KILN_CUDA_CHECK(cudaMemsetAsync(b.device.data(), 0xFF, b.bytes, s.stream.get()));
    }
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> replayed, outputsAfterLaunch(s));
    if (!onGraph(*s.context)) return unsupported(s.context->getLastEnqueueReason());
    for (size_t i = 0; i < s.outputs.size(); ++i) {
        if (replayed[i] != expected[i]) {
            return unsupported("replaying the graph gave another output '" + s.outputs[i].name +
                               "' than a plain enqueue (enqueue does work that stream capture does not record)");
        }
    }
    return Status::ok();
}

Status waitFor(cudaEvent_t event, bool spin) {
    if (!spin) {
        KILN_CUDA_CHECK(cudaEventSynchronize(event));
        return Status::ok();
    }
    cudaError_t state = cudaEventQuery(event);
    while (state == cudaErrorNotReady) state = cudaEventQuery(event);
    if (state != cudaSuccess) return cuda::cudaFailure(state, "cudaEventQuery (--spin-wait)");
    // Whether a "not ready" answer counts as the last error is not documented: make sure none is left behind for
    // the enqueue's launch checks to find.
    const cudaError_t last = cudaGetLastError();
    if (last != cudaSuccess && last != cudaErrorNotReady) return cuda::cudaFailure(last, "cudaEventQuery");
    return Status::ok();
}

Result<double> elapsedMs(const Event& from, const Event& to) {
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, from.get(), to.get()));
    return static_cast<double>(ms);
}

//! One iteration: [H2D] enqueue-or-launch [D2H], events between the phases, then the wait.
Result<IterationTime> iterate(CudaStream& s, const BenchOptions& o, int id, BenchClock::time_point origin) {
    const bool transfers = !o.noTransfers;
    cudaStream_t stream = s.stream.get();
    IterationTime t;
    t.stream = id;
    const auto start = BenchClock::now();
    KILN_CUDA_CHECK(cudaEventRecord(s.start.get(), stream));
    if (transfers) KILN_RETURN_IF_ERROR(copyAll(s, Direction::kInputsIn));
    KILN_CUDA_CHECK(cudaEventRecord(s.computeStart.get(), stream));
    const auto enqueueStart = BenchClock::now();
    KILN_RETURN_IF_ERROR(launch(s));
    t.enqueueMs = msBetween(enqueueStart, BenchClock::now());
    KILN_CUDA_CHECK(cudaEventRecord(s.computeEnd.get(), stream));
    if (transfers) KILN_RETURN_IF_ERROR(copyAll(s, Direction::kOutputsOut));
    KILN_CUDA_CHECK(cudaEventRecord(s.end.get(), stream));
    KILN_RETURN_IF_ERROR(waitFor(s.end.get(), o.spinWait));
    const auto end = BenchClock::now();
    t.startMs = msBetween(origin, start);
    t.endMs = msBetween(origin, end);
    KILN_ASSIGN_OR_RETURN(t.computeMs, elapsedMs(s.computeStart, s.computeEnd));
    t.h2dMs = 0;
    t.d2hMs = 0;
    if (transfers) {
        KILN_ASSIGN_OR_RETURN(t.h2dMs, elapsedMs(s.start, s.computeStart));
        KILN_ASSIGN_OR_RETURN(t.d2hMs, elapsedMs(s.computeEnd, s.end));
    }
    return t;
}

std::string modeText(const BenchResult& r, const BenchOptions& o, const std::string& why) {
    std::string mode =
        r.cudaGraph ? "CUDA graph launch per iteration" : "enqueue per iteration (no CUDA graph: " + why + ")";
    mode += r.dataTransfers ? ", H2D/D2H copies through pinned host memory" : ", no data transfers";
    mode += o.spinWait ? ", spin-wait" : ", blocking wait";
    return mode;
}

}  // namespace

bool cudaGpuPresent() { return cuda::gpuAvailable(); }

Status runCudaBench(const Engine& engine, const BenchOptions& options, const std::map<std::string, Tensor>& inputs,
                    const std::map<std::string, Tensor>& firstOutputs, BenchResult& result) {
    const int n = std::max(options.streams, 1);
    std::vector<std::unique_ptr<CudaStream>> streams;
    for (int i = 0; i < n; ++i) {
        KILN_ASSIGN_OR_RETURN(auto s, makeCudaStream(engine, result.plan, inputs, firstOutputs, options.spinWait));
        streams.push_back(std::move(s));
    }
    // Creating a context selected the engine's GPU on this thread; the other streams' threads select it too.
    int device = 0;
    KILN_CUDA_CHECK(cudaGetDevice(&device));
    // Enqueues per context before timing: the first creates the library handles, computes the shape values and may
    // outgrow the activation arena; the second grows it and captures the context's CUDA graph. A capture can still
    // outgrow the arena (a cudaMalloc, refused while capturing): the enqueue after it grows again and captures, so
    // up to kWarmEnqueues, until one runs on a graph.
    constexpr int kWarmEnqueues = 4;
    const bool graphs = !options.noCudaGraph;
    for (auto& s : streams) {
        s->context->setCudaGraphs(graphs);
        for (int i = 0; i < kWarmEnqueues; ++i) {
            KILN_RETURN_IF_ERROR(s->context->enqueue(s->stream.get()));
            KILN_CUDA_CHECK(cudaStreamSynchronize(s->stream.get()));
            if (i >= 1 && (!graphs || onGraph(*s->context))) break;
        }
    }
    std::string why = graphs ? streams.front()->context->getLastEnqueueReason() : "--no-cuda-graph";
    result.cudaGraph = graphs && onGraph(*streams.front()->context);
    if (result.cudaGraph) {
        for (auto& s : streams) {
            if (Status replay = checkReplay(*s); !replay) {
                result.cudaGraph = false;
                why = replay.message();
                break;
            }
        }
        if (!result.cudaGraph) {
            for (auto& s : streams) s->context->setCudaGraphs(false);
            warn("CUDA graph replay failed, running without CUDA graphs: " + why);
        }
    } else if (graphs && options.cudaGraph) {
        warn("running without CUDA graphs: " + why);
    }
    result.deviceTimed = true;
    result.dataTransfers = !options.noTransfers;
    result.mode = modeText(result, options, why);

    BenchLoop loop;
    loop.startThread = [device](int) -> Status {
        KILN_CUDA_CHECK(cudaSetDevice(device));
        return Status::ok();
    };
    loop.iterate = [&](int id, BenchClock::time_point origin) {
        return iterate(*streams[static_cast<size_t>(id)], options, id, origin);
    };
    return runBenchLoop(n, options, loop, result);
}

}  // namespace kiln::cli
