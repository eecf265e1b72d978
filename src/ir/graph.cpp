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
