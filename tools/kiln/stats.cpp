#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kiln::cli {

Stats::Stats(std::vector<double> samples) : mSorted(std::move(samples)) {
    std::sort(mSorted.begin(), mSorted.end());
    for (double v : mSorted) mSum += v;
    if (mSorted.empty()) return;
    mMean = mSum / static_cast<double>(mSorted.size());
    if (mSorted.size() < 2) return;
    double squares = 0;
    for (double v : mSorted) squares += (v - mMean) * (v - mMean);
    mStddev = std::sqrt(squares / static_cast<double>(mSorted.size() - 1));
}

double Stats::min() const { return mSorted.empty() ? 0.0 : mSorted.front(); }
double Stats::max() const { return mSorted.empty() ? 0.0 : mSorted.back(); }

double Stats::percentile(double p) const {
    if (mSorted.empty()) return 0.0;
    const double rank = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(mSorted.size()));
    const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
    return mSorted[std::min(index, mSorted.size() - 1)];
}

std::string Stats::describe(const std::vector<double>& percentiles, const char* unit) const {
    char buf[128];
    std::snprintf(buf, sizeof buf, "min = %.5g %s, max = %.5g %s, mean = %.5g %s, median = %.5g %s", min(), unit, max(),
                  unit, mean(), unit, median(), unit);
    std::string s = buf;
    for (double p : percentiles) {
        std::snprintf(buf, sizeof buf, ", percentile(%g%%) = %.5g %s", p, percentile(p), unit);
        s += buf;
    }
    return s;
}

}  // namespace kiln::cli
