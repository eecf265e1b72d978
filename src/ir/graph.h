// Kiln's IR: a graph of nodes connected by typed values.
//
// A Graph owns its Values and Nodes. A Value has a dtype and a shape whose dims are static (>= 0) or symbolic
// (a name such as "batch", or unknown); an initializer or folded constant keeps its data in `constant()`, so
// constants and runtime tensors are told apart by the value itself. Nodes are kept in topological order.
// Subgraphs (If/Loop/Scan bodies) are Graphs whose `parent()` is the enclosing graph; their nodes may take
// Values of an enclosing graph directly as inputs (outer-scope captures).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/attribute.h"
#include "ir/op.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::ir {

class Node;
class Graph;

//! One dimension: a known size, or a symbol ("batch"), or unknown (empty symbol).
struct Dim {
    int64_t size = -1;
    std::string symbol;
    static Dim known(int64_t n) { return {n, {}}; }
    static Dim symbolic(std::string name) { return {-1, std::move(name)}; }
    bool isStatic() const { return size >= 0; }
};

//! Shape with possibly unknown rank (`std::nullopt`).
using SymbolicShape = std::optional<std::vector<Dim>>;

std::string symbolicShapeToString(const SymbolicShape& shape);

class Value {
public:
    Value(Graph* graph, std::string name) : mGraph(graph), mName(std::move(name)) {}

    const std::string& name() const { return mName; }
    Graph* graph() const { return mGraph; }
    DataType dtype() const { return mDtype; }
    void setDtype(DataType t) { mDtype = t; }
    const SymbolicShape& shape() const { return mShape; }
    void setShape(SymbolicShape s) { mShape = std::move(s); }
    //! Static shape if every dim is known.
    std::optional<Shape> staticShape() const;

    bool isConstant() const { return mConstant.has_value(); }
    const Tensor& constant() const { return *mConstant; }
    void setConstant(Tensor t);

    Node* producer() const { return mProducer; }
    void setProducer(Node* n) { mProducer = n; }
    const std::vector<Node*>& consumers() const { return mConsumers; }
    void addConsumer(Node* n) { mConsumers.push_back(n); }
    void removeConsumer(Node* n);
    //! True once the graph removed the value (the object stays valid until Graph::collectGarbage).
    bool removed() const { return mRemoved; }

private:
    friend class Graph;
    bool mRemoved = false;
    Graph* mGraph;
    std::string mName;
    DataType mDtype = DataType::kUndefined;
    SymbolicShape mShape;
    std::optional<Tensor> mConstant;
    Node* mProducer = nullptr;
    std::vector<Node*> mConsumers;
};

class Node {
public:
    Node(OpKind op, std::string name, int64_t opset) : mOp(op), mName(std::move(name)), mOpset(opset) {}

    OpKind op() const { return mOp; }
    std::string_view opType() const { return opName(mOp); }
    const std::string& name() const { return mName; }
    //! Index in the source model's node list (-1 for nodes Kiln created).
    int64_t sourceIndex() const { return mSourceIndex; }
    void setSourceIndex(int64_t i) { mSourceIndex = i; }
    //! The opset version of the node's domain in the model.
    int64_t opset() const { return mOpset; }
    //! "node 12 (Conv 'conv1')": how errors name a node.
    std::string describe() const;

    //! Inputs; nullptr marks an omitted optional input.
    const std::vector<Value*>& inputs() const { return mInputs; }
    const std::vector<Value*>& outputs() const { return mOutputs; }
    Value* input(size_t i) const { return i < mInputs.size() ? mInputs[i] : nullptr; }
    Value* output(size_t i) const { return i < mOutputs.size() ? mOutputs[i] : nullptr; }
    void addInput(Value* v);
    void setInput(size_t i, Value* v);
    void addOutput(Value* v);
    //! Makes this node the producer of `v` in output slot i (the old output loses its producer).
    void setOutput(size_t i, Value* v);
    //! Detaches every input (consumer links) and output (producer links).
    void disconnect();
    //! True once the graph removed the node (the object stays valid until Graph::collectGarbage).
    bool removed() const { return mRemoved; }

    Attributes& attrs() { return mAttrs; }
    const Attributes& attrs() const { return mAttrs; }

private:
    OpKind mOp;
    std::string mName;
    int64_t mOpset;
    int64_t mSourceIndex = -1;
    bool mRemoved = false;
    friend class Graph;
    std::vector<Value*> mInputs;
    std::vector<Value*> mOutputs;
    Attributes mAttrs;
};

class Graph {
public:
    explicit Graph(std::string name = "main", Graph* parent = nullptr) : mName(std::move(name)), mParent(parent) {}
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;

    const std::string& name() const { return mName; }
    Graph* parent() const { return mParent; }

    //! Creates a value owned by this graph. Names must be unique within the graph.
    Result<Value*> createValue(const std::string& name);
    //! Value by name in this graph only.
    Value* findValue(const std::string& name) const;
    //! Value by name here or in an enclosing graph (ONNX lexical scoping).
    Value* findValueInScope(const std::string& name) const;
    //! Creates a node at the end of the node list (callers keep topological order).
    Node* addNode(OpKind op, std::string name, int64_t opset);
    //! Creates a node at position `index` of the node list (callers keep topological order).
    Node* insertNode(size_t index, OpKind op, std::string name, int64_t opset);
    //! Position of `node` in the node list, or -1.
    int64_t indexOf(const Node* node) const;
    //! Moves `node` to just after `anchor` (nullptr: to the front); callers keep topological order.
    void moveNodeAfter(Node* node, const Node* anchor);
    //! Disconnects `node` and takes it out of the node list. Pointers to it stay valid (and `removed()` is true)
    //! until collectGarbage(), so passes may hold node lists across removals.
    void removeNode(Node* node);
    //! Takes an unused value (no producer, no consumers, not a graph input or output) out of the graph; its name
    //! becomes free. Fails when the value is still used.
    Status removeValue(Value* value);
    //! Frees removed nodes and values.
    void collectGarbage();

    const std::vector<std::unique_ptr<Node>>& nodes() const { return mNodes; }
    const std::vector<std::unique_ptr<Value>>& values() const { return mValues; }
    const std::vector<Value*>& inputs() const { return mInputs; }
    const std::vector<Value*>& outputs() const { return mOutputs; }
    void addInput(Value* v) { mInputs.push_back(v); }
    void addOutput(Value* v) { mOutputs.push_back(v); }
    void setOutput(size_t i, Value* v) { mOutputs.at(i) = v; }

    //! Opset version per domain ("" = ai.onnx).
    const std::unordered_map<std::string, int64_t>& opsets() const { return mOpsets; }
    void setOpset(const std::string& domain, int64_t version) { mOpsets[domain] = version; }

    //! Checks structure: every input is produced earlier, a graph input, a constant or an outer-scope value.
    Status verify() const;

private:
    std::string mName;
    Graph* mParent;
    std::vector<std::unique_ptr<Value>> mValues;
    std::unordered_map<std::string, Value*> mValueByName;
    std::vector<std::unique_ptr<Node>> mNodes;
    std::vector<Value*> mInputs;
    std::vector<Value*> mOutputs;
    std::unordered_map<std::string, int64_t> mOpsets;
    std::vector<std::unique_ptr<Node>> mRemovedNodes;
    std::vector<std::unique_ptr<Value>> mRemovedValues;
};

}  // namespace kiln::ir
