// Statistics of timing samples: min / max / mean / median / percentiles / coefficient of variation.
#pragma once

#include <string>
#include <vector>

namespace kiln::cli {

class Stats {
public:
    //! Takes the samples (any unit; the bench uses milliseconds).
    explicit Stats(std::vector<double> samples);
    size_t count() const { return mSorted.size(); }
    double min() const;
    double max() const;
    double mean() const { return mMean; }
    double median() const { return percentile(50); }
    //! Nearest-rank percentile (p in [0, 100]): the smallest sample with at least p% of samples at or below it.
    double percentile(double p) const;
    double stddev() const { return mStddev; }
    //! Standard deviation / mean (0 for fewer than two samples).
    double cv() const { return mMean > 0 ? mStddev / mMean : 0.0; }
    double sum() const { return mSum; }
    //! trtexec's form: "min = 1.23 ms, max = ..., mean = ..., median = ..., percentile(90%) = ..., ...".
    std::string describe(const std::vector<double>& percentiles, const char* unit = "ms") const;

private:
    std::vector<double> mSorted;
    double mMean = 0;
    double mStddev = 0;
    double mSum = 0;
};

}  // namespace kiln::cli
