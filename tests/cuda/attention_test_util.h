// Device buffers for tests that call the attention launchers directly (no engine): random Q, K, V stored as BERT
// stores them ([B, S, H, D], seq-major), an optional additive mask, and the AttentionParams that describe them.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "backends/cuda/kernels/attention.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/device_bytes_test_util.h"

namespace kiln::testing {

struct AttentionShape {
    DataType type = DataType::kFloat16;
    int64_t b = 1, h = 1, sq = 128, sk = 128, d = 64;
    //! 0 none, 1 [B, 1, 1, Sk] of the input dtype, 2 [Sq, Sk] float32, 3 [Sq, Sk] float32 of 0 and -inf: row 3
    //! masked entirely (NaN out), every other row's first 64 keys (a whole key tile) masked.
    int maskKind = 0;
    bool causal = false;

    std::string describe() const {
        return std::string(dataTypeName(type)) + " B=" + std::to_string(b) + " H=" + std::to_string(h) +
               " Sq=" + std::to_string(sq) + " Sk=" + std::to_string(sk) + " D=" + std::to_string(d) +
               " mask=" + std::to_string(maskKind) + (causal ? " causal" : "");
    }
    size_t outBytes() const { return static_cast<size_t>(b * sq * h * d) * dataTypeSize(type); }
};

//! Uploads `t` to fresh device memory.
inline std::unique_ptr<DeviceBytes> upload(const Tensor& t) {
    auto dev = std::make_unique<DeviceBytes>(t.byteSize());
    EXPECT_EQ(cudaMemcpy(dev->p, t.raw(), t.byteSize(), cudaMemcpyHostToDevice), cudaSuccess);
    return dev;
}

class DeviceAttention {
public:
    explicit DeviceAttention(const AttentionShape& s) : mShape(s) {
        mQ = upload(randomTensor(s.type, {s.b, s.sq, s.h, s.d}, seed(), -1.0, 1.0));
        mK = upload(randomTensor(s.type, {s.b, s.sk, s.h, s.d}, seed(), -1.0, 1.0));
        mV = upload(randomTensor(s.type, {s.b, s.sk, s.h, s.d}, seed(), -1.0, 1.0));
        if (s.maskKind == 1) mMask = upload(randomTensor(s.type, {s.b, 1, 1, s.sk}, seed(), -4.0, 0.0));
        if (s.maskKind == 2) mMask = upload(randomTensor(DataType::kFloat32, {s.sq, s.sk}, seed(), -4.0, 0.0));
        if (s.maskKind == 3) {
            Tensor mask(DataType::kFloat32, {s.sq, s.sk});
            for (int64_t i = 0; i < s.sq; ++i) {
                for (int64_t j = 0; j < s.sk; ++j) {
                    const bool masked = i == 3 || j < 64;
                    mask.data<float>()[i * s.sk + j] = masked ? -std::numeric_limits<float>::infinity() : 0.0f;
                }
            }
            mMask = upload(mask);
        }
    }

    //! The launch parameters, writing to `out` ([B, Sq, H, D]); scale 1/√D keeps the softmax away from one-hot.
    cuda::AttentionParams params(void* out) const {
        const AttentionShape& s = mShape;
        cuda::AttentionParams p;
        p.q = mQ->p;
        p.k = mK->p;
        p.v = mV->p;
        p.out = out;
        p.mask = mMask ? mMask->p : nullptr;
        p.maskIsFloat32 = s.maskKind >= 2;
        p.causal = s.causal;
        p.scale = 1.0f / std::sqrt(static_cast<float>(s.d));
        p.batch = s.b;
        p.heads = s.h;
        p.sq = s.sq;
        p.sk = s.sk;
        p.d = p.dv = s.d;
        setSeqMajor(p.qStride, s.sq, s.h, s.d);
        setSeqMajor(p.kStride, s.sk, s.h, s.d);
        setSeqMajor(p.vStride, s.sk, s.h, s.d);
        setSeqMajor(p.outStride, s.sq, s.h, s.d);
        if (s.maskKind == 1) {
            p.maskStride[0] = s.sk;
            p.maskStride[3] = 1;
        } else if (s.maskKind >= 2) {
            p.maskStride[2] = s.sk;
            p.maskStride[3] = 1;
        }
        return p;
    }

    //! Bytes a kernel must move at least: Q, K, V (and the mask) read once, O written once.
    double bytesMoved() const {
        const AttentionShape& s = mShape;
        const double elem = static_cast<double>(dataTypeSize(s.type));
        double bytes = elem * static_cast<double>(s.b * s.h * s.d) * static_cast<double>(2 * s.sq + 2 * s.sk);
        if (s.maskKind == 1) bytes += elem * static_cast<double>(s.b * s.sk);
        if (s.maskKind >= 2) bytes += 4.0 * static_cast<double>(s.sq * s.sk);
        return bytes;
    }

private:
    static void setSeqMajor(int64_t (&stride)[3], int64_t s, int64_t h, int64_t d) {
        stride[0] = s * h * d;
        stride[1] = d;
        stride[2] = h * d;
    }

    AttentionShape mShape;
    std::unique_ptr<DeviceBytes> mQ, mK, mV, mMask;
};

//! The [B, Sq, H, D] output at `out` as a host tensor.
inline Tensor downloadOutput(const AttentionShape& s, const void* out) {
    Tensor t(s.type, {s.b, s.sq, s.h, s.d});
    EXPECT_EQ(cudaMemcpy(t.raw(), out, t.byteSize(), cudaMemcpyDeviceToHost), cudaSuccess);
    return t;
}

}  // namespace kiln::testing
