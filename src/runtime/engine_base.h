// What every backend's Engine and ExecutionContext share: I/O tensors by name, profiles, input-shape checks
// against the active profile, address bindings. Backends derive and add memory sizes, enqueue and infer.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "runtime/engine_impl.h"

namespace kiln::runtime {

//! Dims of a symbolic shape, -1 for dynamic ones.
Shape symbolicToShape(const ir::SymbolicShape& s);

class EngineBase : public Engine {
public:
    struct Io {
        const ir::Value* value;
        TensorIOMode mode;
    };

    EngineBase(std::shared_ptr<const ir::Graph> graph, std::vector<ProfileShapes> profiles);

    int32_t getNbIOTensors() const noexcept override { return static_cast<int32_t>(mOrder.size()); }
    Result<std::string> getIOTensorName(int32_t index) const override;
    Result<TensorIOMode> getTensorIOMode(const std::string& name) const override;
    Result<DataType> getTensorDataType(const std::string& name) const override;
    Result<Shape> getTensorShape(const std::string& name) const override;
    int32_t getNbOptimizationProfiles() const noexcept override { return static_cast<int32_t>(mProfiles.size()); }
    Result<Shape> getProfileShape(const std::string& name, int32_t profileIndex,
                                  OptProfileSelector selector) const override;

    Result<const Io*> find(const std::string& name) const;
    const ir::Graph& graph() const { return *mGraph; }
    const std::shared_ptr<const ir::Graph>& sharedGraph() const { return mGraph; }
    const std::vector<ProfileShapes>& profiles() const { return mProfiles; }

private:
    std::shared_ptr<const ir::Graph> mGraph;
    std::vector<ProfileShapes> mProfiles;
    std::vector<std::string> mOrder;
    std::unordered_map<std::string, Io> mIo;
};

class ContextBase : public ExecutionContext {
public:
    explicit ContextBase(const EngineBase& engine) : mEngine(engine) {}
    Status setOptimizationProfile(int32_t index) override;
    int32_t getOptimizationProfile() const noexcept override { return mProfile; }
    Status setInputShape(const std::string& name, const Shape& dims) override;
    Status setTensorAddress(const std::string& name, void* data) override {
        return bind(name, data, std::numeric_limits<size_t>::max());
    }
    Status setTensorAddress(const std::string& name, void* data, size_t capacityBytes) override {
        return bind(name, data, capacityBytes);
    }
    Result<Shape> getTensorShape(const std::string& name) const override;
    void setCudaGraphs(bool enabled) noexcept override { mCudaGraphs = enabled; }
    bool getCudaGraphs() const noexcept override { return mCudaGraphs; }
    EnqueuePath getLastEnqueuePath() const noexcept override { return mLastPath; }
    std::string getLastEnqueueReason() const override { return mLastReason; }
    void setProfiler(Profiler* profiler) noexcept override { mProfiler = profiler; }
    Profiler* getProfiler() const noexcept override { return mProfiler; }

protected:
    void setLastEnqueue(EnqueuePath path, std::string reason) {
        mLastPath = path;
        mLastReason = std::move(reason);
    }
    struct Binding {
        void* data = nullptr;
        size_t capacity = 0;
    };
    //! An input's shape for this enqueue; fails when a dynamic dim was never set.
    Result<Shape> resolvedInputShape(const ir::Value& input) const;
    //! The binding of an input or output; fails naming the tensor when there is none.
    Result<Binding> bindingOf(const std::string& name, const char* what) const;
    //! Checks `infer`'s inputs by name (known inputs, shapes within the profile) and records their shapes.
    Status setInferInputs(const std::map<std::string, Tensor>& inputs);
    void recordShape(const std::string& name, Shape shape) { mShapes[name] = std::move(shape); }

    const EngineBase& mEngine;
    Profiler* mProfiler = nullptr;

private:
    Status bind(const std::string& name, void* data, size_t capacity);
    int32_t mProfile = 0;
    bool mCudaGraphs = true;
    EnqueuePath mLastPath = EnqueuePath::kNone;
    std::string mLastReason;
    std::unordered_map<std::string, Shape> mShapes;  // inputs set by setInputShape; outputs after a run
    std::unordered_map<std::string, Binding> mBindings;
};

}  // namespace kiln::runtime
