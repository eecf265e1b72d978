#include "runtime/engine_base.h"

namespace kiln::runtime {
namespace {
std::string rangeText(const Shape& lo, const Shape& hi) {
    return "[" + shapeToString(lo) + ", " + shapeToString(hi) + "]";
}
}  // namespace

Shape symbolicToShape(const ir::SymbolicShape& s) {
    Shape out;
    if (!s) return out;
    for (const ir::Dim& d : *s) out.push_back(d.isStatic() ? d.size : -1);
    return out;
}

EngineBase::EngineBase(std::shared_ptr<const ir::Graph> graph, std::vector<ProfileShapes> profiles)
    : mGraph(std::move(graph)), mProfiles(std::move(profiles)) {
    auto add = [this](const ir::Value* v, TensorIOMode mode) {
        mOrder.push_back(v->name());
        mIo.emplace(v->name(), Io{v, mode});
    };
    for (const ir::Value* v : mGraph->inputs()) add(v, TensorIOMode::kINPUT);
    for (const ir::Value* v : mGraph->outputs()) add(v, TensorIOMode::kOUTPUT);
}

Result<std::string> EngineBase::getIOTensorName(int32_t index) const {
    if (index < 0 || index >= getNbIOTensors()) {
        return outOfRange("I/O tensor index " + std::to_string(index) + " is outside [0, " +
                          std::to_string(getNbIOTensors()) + ")");
    }
    return mOrder[static_cast<size_t>(index)];
}

Result<TensorIOMode> EngineBase::getTensorIOMode(const std::string& name) const {
    KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
    return io->mode;
}

Result<DataType> EngineBase::getTensorDataType(const std::string& name) const {
    KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
    return io->value->dtype();
}

Result<Shape> EngineBase::getTensorShape(const std::string& name) const {
    KILN_ASSIGN_OR_RETURN(const Io* io, find(name));
    if (!io->value->shape()) return unsupported("tensor '" + name + "' has unknown rank");
    return symbolicToShape(io->value->shape());
}

Result<Shape> EngineBase::getProfileShape(const std::string& name, int32_t profileIndex,
                                          OptProfileSelector selector) const {
    if (profileIndex < 0 || profileIndex >= getNbOptimizationProfiles()) {
        return outOfRange("optimization profile " + std::to_string(profileIndex) + " does not exist (engine has " +
                          std::to_string(mProfiles.size()) + ")");
    }
    const ProfileShapes& p = mProfiles[static_cast<size_t>(profileIndex)];
    auto it = p.find(name);
    if (it == p.end()) {
        return notFound("optimization profile " + std::to_string(profileIndex) + " has no shapes for '" + name + "'");
    }
    return it->second[static_cast<size_t>(selector)];
}

Result<const EngineBase::Io*> EngineBase::find(const std::string& name) const {
    auto it = mIo.find(name);
    if (it == mIo.end()) return notFound("'" + name + "' is not an input or output of the engine");
    return &it->second;
}

Status ContextBase::setOptimizationProfile(int32_t index) {
    const auto n = mEngine.getNbOptimizationProfiles();
    if (index < 0 || (index >= n && !(n == 0 && index == 0))) {
        return outOfRange("optimization profile " + std::to_string(index) + " does not exist (engine has " +
                          std::to_string(n) + ")");
    }
    mProfile = index;
    return Status::ok();
}

Status ContextBase::setInputShape(const std::string& name, const Shape& dims) {
    KILN_ASSIGN_OR_RETURN(const EngineBase::Io* io, mEngine.find(name));
    if (io->mode != TensorIOMode::kINPUT) return invalidArgument("'" + name + "' is an output, not an input");
    const Shape built = symbolicToShape(io->value->shape());
    const std::string what = "input '" + name + "' shape " + shapeToString(dims);
    if (io->value->shape() && dims.size() != built.size()) {
        return invalidArgument(what + " has rank " + std::to_string(dims.size()) + ", the engine expects rank " +
                               std::to_string(built.size()) + " (" + shapeToString(built) + ")");
    }
    const ProfileShapes* profile =
        mEngine.profiles().empty() ? nullptr : &mEngine.profiles()[static_cast<size_t>(mProfile)];
    const auto range = profile ? profile->find(name) : ProfileShapes::const_iterator{};
    const bool ranged = profile && range != profile->end();
    for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] < 0) return invalidArgument(what + " has a negative dim");
        if (ranged) {
            const Shape& lo = range->second[0];
            const Shape& hi = range->second[2];
            if (lo.size() != dims.size() || dims[i] < lo[i] || dims[i] > hi[i]) {
                return outOfRange(what + " is outside optimization profile " + std::to_string(mProfile) + ": allowed " +
                                  rangeText(lo, hi));
            }
        } else if (i < built.size() && built[i] >= 0 && built[i] != dims[i]) {
            return invalidArgument(what + " differs from the engine's static shape " + shapeToString(built));
        }
    }
    mShapes[name] = dims;
    return Status::ok();
}

Status ContextBase::bind(const std::string& name, void* data, size_t capacity) {
    KILN_RETURN_IF_ERROR(mEngine.find(name).status());
    if (data == nullptr) {
        mBindings.erase(name);
    } else {
        mBindings[name] = Binding{data, capacity};
    }
    return Status::ok();
}

Result<Shape> ContextBase::getTensorShape(const std::string& name) const {
    KILN_ASSIGN_OR_RETURN(const EngineBase::Io* io, mEngine.find(name));
    if (auto it = mShapes.find(name); it != mShapes.end()) return it->second;
    return mEngine.getTensorShape(io->value->name());
}

Result<Shape> ContextBase::resolvedInputShape(const ir::Value& input) const {
    KILN_ASSIGN_OR_RETURN(Shape shape, getTensorShape(input.name()));
    for (int64_t d : shape) {
        if (d < 0) {
            return invalidArgument("input '" + input.name() + "' has dynamic shape " + shapeToString(shape) +
                                   ": call setInputShape first");
        }
    }
    return shape;
}

Result<ContextBase::Binding> ContextBase::bindingOf(const std::string& name, const char* what) const {
    auto b = mBindings.find(name);
    if (b == mBindings.end()) return invalidArgument(std::string(what) + " '" + name + "' has no address (setTensorAddress)");
    return b->second;
}

Status ContextBase::setInferInputs(const std::map<std::string, Tensor>& inputs) {
    for (const auto& [name, t] : inputs) {
        KILN_ASSIGN_OR_RETURN(const EngineBase::Io* io, mEngine.find(name));
        if (io->mode != TensorIOMode::kINPUT) return invalidArgument("'" + name + "' is an output, not an input");
        KILN_RETURN_IF_ERROR(setInputShape(name, t.shape()));
    }
    return Status::ok();
}

}  // namespace kiln::runtime
