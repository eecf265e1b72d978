#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

namespace kiln::ir {

std::string symbolicShapeToString(const SymbolicShape& shape) {
    if (!shape) return "?";
    if (shape->empty()) return "scalar";
    std::string s;
    for (size_t i = 0; i < shape->size(); ++i) {
        if (i) s += 'x';
        const Dim& d = (*shape)[i];
        s += d.isStatic() ? std::to_string(d.size) : (d.symbol.empty() ? "?" : d.symbol);
    }
    return s;
}

std::optional<Shape> Value::staticShape() const {
    if (mConstant) return mConstant->shape();
    if (!mShape) return std::nullopt;
    Shape s;
    for (const Dim& d : *mShape) {
        if (!d.isStatic()) return std::nullopt;
        s.push_back(d.size);
    }
    return s;
}

void Value::setConstant(Tensor t) {
    mDtype = t.dtype();
    std::vector<Dim> dims;
    for (int64_t d : t.shape()) dims.push_back(Dim::known(d));
    mShape = std::move(dims);
    mConstant = std::move(t);
}

void Value::removeConsumer(Node* n) {
    auto it = std::find(mConsumers.begin(), mConsumers.end(), n);
    if (it != mConsumers.end()) mConsumers.erase(it);
}

std::string Node::describe() const {
    std::string s = "node ";
    s += mSourceIndex >= 0 ? std::to_string(mSourceIndex) : std::string("<kiln>");
    s += " (";
    s += opType();
    if (!mName.empty()) s += " '" + mName + "'";
    s += ")";
    return s;
}

void Node::addInput(Value* v) {
    mInputs.push_back(v);
    if (v) v->addConsumer(this);
}

void Node::setInput(size_t i, Value* v) {
    if (i >= mInputs.size()) mInputs.resize(i + 1, nullptr);
    if (mInputs[i]) mInputs[i]->removeConsumer(this);
    mInputs[i] = v;
    if (v) v->addConsumer(this);
}

void Node::addOutput(Value* v) {
    mOutputs.push_back(v);
    if (v) v->setProducer(this);
}

void Node::setOutput(size_t i, Value* v) {
    if (i >= mOutputs.size()) mOutputs.resize(i + 1, nullptr);
    if (mOutputs[i] && mOutputs[i]->producer() == this) mOutputs[i]->setProducer(nullptr);
    mOutputs[i] = v;
    if (v) v->setProducer(this);
}

void Node::disconnect() {
    for (Value*& in : mInputs) {
        if (in) in->removeConsumer(this);
        in = nullptr;
    }
    for (Value*& out : mOutputs) {
        if (out && out->producer() == this) out->setProducer(nullptr);
        out = nullptr;
    }
}

Result<Value*> Graph::createValue(const std::string& name) {
    if (!name.empty() && mValueByName.count(name)) {
        return invalidModel("value '" + name + "' is defined more than once in graph '" + mName + "'");
    }
    mValues.push_back(std::make_unique<Value>(this, name));
    Value* v = mValues.back().get();
    if (!name.empty()) mValueByName[name] = v;
    return v;
}

Value* Graph::findValue(const std::string& name) const {
    auto it = mValueByName.find(name);
    return it == mValueByName.end() ? nullptr : it->second;
}

Value* Graph::findValueInScope(const std::string& name) const {
    for (const Graph* g = this; g != nullptr; g = g->mParent) {
        if (Value* v = g->findValue(name)) return v;
    }
    return nullptr;
}

Node* Graph::addNode(OpKind op, std::string name, int64_t opset) {
    mNodes.push_back(std::make_unique<Node>(op, std::move(name), opset));
    return mNodes.back().get();
}

Node* Graph::insertNode(size_t index, OpKind op, std::string name, int64_t opset) {
    index = std::min(index, mNodes.size());
    auto it = mNodes.insert(mNodes.begin() + static_cast<std::ptrdiff_t>(index),
                            std::make_unique<Node>(op, std::move(name), opset));
    return it->get();
}

int64_t Graph::indexOf(const Node* node) const {
    for (size_t i = 0; i < mNodes.size(); ++i) {
        if (mNodes[i].get() == node) return static_cast<int64_t>(i);
    }
    return -1;
}

void Graph::moveNodeAfter(Node* node, const Node* anchor) {
    const int64_t from = indexOf(node);
    if (from < 0 || node == anchor) return;
    std::unique_ptr<Node> owned = std::move(mNodes[static_cast<size_t>(from)]);
    mNodes.erase(mNodes.begin() + from);
    const int64_t at = anchor ? indexOf(anchor) + 1 : 0;
    mNodes.insert(mNodes.begin() + at, std::move(owned));
}

void Graph::removeNode(Node* node) {
    const int64_t i = indexOf(node);
    if (i < 0) return;
    node->disconnect();
    node->mRemoved = true;
    mRemovedNodes.push_back(std::move(mNodes[static_cast<size_t>(i)]));
    mNodes.erase(mNodes.begin() + i);
}

Status Graph::removeValue(Value* value) {
    if (value->producer() || !value->consumers().empty() ||
        std::find(mInputs.begin(), mInputs.end(), value) != mInputs.end() ||
        std::find(mOutputs.begin(), mOutputs.end(), value) != mOutputs.end()) {
        return internalError("value '" + value->name() + "' of graph '" + mName + "' is still in use");
    }
    auto it = std::find_if(mValues.begin(), mValues.end(), [&](const auto& v) { return v.get() == value; });
    if (it == mValues.end()) return internalError("value '" + value->name() + "' is not in graph '" + mName + "'");
    auto byName = mValueByName.find(value->name());
    if (byName != mValueByName.end() && byName->second == value) mValueByName.erase(byName);
    value->mRemoved = true;
    mRemovedValues.push_back(std::move(*it));
    mValues.erase(it);
    return Status::ok();
}

void Graph::collectGarbage() {
    mRemovedNodes.clear();
    mRemovedValues.clear();
}

Status Graph::verify() const {
    std::unordered_set<const Value*> ready;
    for (const Value* v : mInputs) ready.insert(v);
    for (const auto& node : mNodes) {
        for (const Value* in : node->inputs()) {
            if (in == nullptr || in->isConstant() || ready.count(in)) continue;
            if (in->graph() != this) continue;  // outer-scope capture, checked in the enclosing graph
            return invalidModel(node->describe() + ": input '" + in->name() + "' is used before it is produced");
        }
        for (const Value* out : node->outputs()) {
            if (out) ready.insert(out);
        }
    }
    for (const Value* out : mOutputs) {
        if (!out->isConstant() && !ready.count(out) && out->graph() == this) {
            return invalidModel("graph '" + mName + "' output '" + out->name() + "' is never produced");
        }
    }
    return Status::ok();
}

}  // namespace kiln::ir
