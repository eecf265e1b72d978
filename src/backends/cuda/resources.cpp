#include "backends/cuda/resources.h"

#include "backends/cuda/check.h"
#include "backends/cuda/kernels/device_errors.h"

namespace kiln::cuda {

Result<std::unique_ptr<ContextResources>> ContextResources::create(int device, size_t arenaBytes) {
    std::unique_ptr<ContextResources> r(new ContextResources());
    r->mDevice = device;
    KILN_CUDA_CHECK(cudaSetDevice(device));
    KILN_RETURN_IF_ERROR(r->mArena.reserve(arenaBytes));
    return r;
}

ContextResources::~ContextResources() {
    if (mCudnn) cudnnDestroy(mCudnn);
    if (mCublasLt) cublasLtDestroy(mCublasLt);
}

Result<RunState> ContextResources::runState(const ExecutionPlan& plan, cudaStream_t stream, const RunOptions& options) {
    KILN_CUDA_CHECK(cudaSetDevice(mDevice));
    if (plan.needsCudnn() && mCudnn == nullptr) KILN_CUDNN_CHECK(cudnnCreate(&mCudnn));
    if (plan.needsCublasLt() && mCublasLt == nullptr) KILN_CUBLAS_CHECK(cublasLtCreate(&mCublasLt));
    if (mCudnn) KILN_CUDNN_CHECK(cudnnSetStream(mCudnn, stream));
    RunState st;
    st.stream = stream;
    st.cudnn = mCudnn;
    st.cublasLt = mCublasLt;
    st.arena = &mArena;
    st.workspaceLimit = options.workspaceLimit;
    st.allowTf32 = options.allowTf32;
    st.poisonOutputs = options.poisonOutputs;
    st.tuner = options.tuner;
    return st;
}

Result<std::vector<Tensor>> runOnHostTensors(const ExecutionPlan& plan, ContextResources& resources,
                                             const std::vector<Tensor>& inputs, const RunOptions& options,
                                             NodeTimer* timer) {
    KILN_RETURN_IF_ERROR(resources.arena().growToPeak());
    KILN_ASSIGN_OR_RETURN(RunState st, resources.runState(plan, nullptr, options));
    st.timer = timer;
    std::vector<DeviceBuffer> inputBuffers;
    std::vector<RunValue> runInputs;
    for (const Tensor& t : inputs) {
        RunValue v;
        if (t.dtype() == DataType::kString) {
            v.onHost = true;
            v.host = t;
        } else {
            KILN_ASSIGN_OR_RETURN(DeviceBuffer buf, DeviceBuffer::allocate(t.byteSize()));
            if (t.byteSize() > 0) {
                KILN_CUDA_CHECK(cudaMemcpy(buf.data(), t.raw(), t.byteSize(), cudaMemcpyHostToDevice));
            }
            v.device = DeviceTensor{t.dtype(), t.shape(), buf.data(), nullptr};
            inputBuffers.push_back(std::move(buf));
        }
        runInputs.push_back(std::move(v));
    }
    std::vector<Tensor> outputs;
    {
        KILN_ASSIGN_OR_RETURN(std::vector<RunValue> runOutputs, Executor(plan).run(st, runInputs));
        for (RunValue& r : runOutputs) {
            if (r.onHost) {
                outputs.push_back(std::move(r.host));
                continue;
            }
            const DeviceTensor& d = r.device;
            KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(d.dtype, d.shape));
            if (t.byteSize() > 0) {
                KILN_CUDA_CHECK(cudaMemcpyAsync(t.raw(), d.data, t.byteSize(), cudaMemcpyDeviceToHost, st.stream));
            }
            outputs.push_back(std::move(t));
        }
    }
    KILN_CUDA_CHECK(cudaStreamSynchronize(st.stream));
    KILN_CUDA_CHECK(cudaGetLastError());
    // Out-of-range indices found by the kernels (Gather & co on device data) surface here, naming the node.
    KILN_RETURN_IF_ERROR(takeDeviceErrors(st.stream, plan.graph()));
    return outputs;
}

bool gpuAvailable() noexcept {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return false;
    }
    return count > 0;
}

}  // namespace kiln::cuda
