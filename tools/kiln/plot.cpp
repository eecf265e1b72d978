#include "plot.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "image.h"
#include "stats.h"

namespace kiln::cli {

namespace {

struct Rgb {
    uint8_t r, g, b;
};
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kBlack{20, 20, 20};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kBlue{52, 101, 164};
constexpr Rgb kGreen{78, 154, 6};
constexpr Rgb kRed{204, 0, 0};

//! 5x7 glyphs, one byte per row (bit 4 = leftmost pixel), for the characters the labels use.
struct Glyph {
    char c;
    std::array<uint8_t, 7> rows;
};
constexpr Glyph kFont[] = {
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
};

class Canvas {
public:
    Canvas(int w, int h) : mImage{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, 255)} {}

    void fill(int x0, int y0, int x1, int y1, Rgb c) {
        for (int y = std::max(y0, 0); y < std::min(y1, mImage.height); ++y) {
            for (int x = std::max(x0, 0); x < std::min(x1, mImage.width); ++x) {
                uint8_t* p = &mImage.pixels[(static_cast<size_t>(y) * mImage.width + x) * 3];
                p[0] = c.r;
                p[1] = c.g;
                p[2] = c.b;
            }
        }
    }
    //! Text with its top-left corner at (x, y), each font pixel `scale` x `scale`; lowercase drawn as uppercase.
    void text(int x, int y, const std::string& s, Rgb c, int scale = 2) {
        for (char ch : s) {
            const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            for (const Glyph& g : kFont) {
                if (g.c != u) continue;
                for (int row = 0; row < 7; ++row) {
                    for (int col = 0; col < 5; ++col) {
                        if (g.rows[static_cast<size_t>(row)] & (0x10 >> col)) {
                            fill(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
                        }
                    }
                }
            }
            x += 6 * scale;
        }
    }
    static int textWidth(const std::string& s, int scale = 2) { return static_cast<int>(s.size()) * 6 * scale; }
    const examples::Image& image() const { return mImage; }

private:
    examples::Image mImage;
};

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

//! A plot area: pixel rectangle and the data range it shows.
struct Area {
    int left, top, right, bottom;
    double x0, x1, y0, y1;
    int px(double x) const { return left + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (right - left))); }
    int py(double y) const { return bottom - static_cast<int>(std::lround((y - y0) / (y1 - y0) * (bottom - top))); }
};

//! Frame, grid lines and the end labels of both axes.
void drawAxes(Canvas& c, const Area& a, const std::string& title, const std::string& xLabel, const std::string& yTop) {
    for (int i = 1; i < 4; ++i) {
        const int y = a.top + (a.bottom - a.top) * i / 4;
        c.fill(a.left, y, a.right, y + 1, kGrid);
    }
    c.fill(a.left, a.top, a.left + 2, a.bottom, kBlack);
    c.fill(a.left, a.bottom - 1, a.right, a.bottom + 1, kBlack);
    c.text(a.left, a.top - 26, title, kBlack);
    c.text(a.left - Canvas::textWidth(yTop) - 6, a.top, yTop, kBlack);
    c.text(a.left - Canvas::textWidth(number(a.y0)) - 6, a.bottom - 14, number(a.y0), kBlack);
    c.text(a.left, a.bottom + 8, number(a.x0), kBlack);
    const std::string hi = number(a.x1);
    c.text(a.right - Canvas::textWidth(hi), a.bottom + 8, hi, kBlack);
    c.text((a.left + a.right - Canvas::textWidth(xLabel)) / 2, a.bottom + 8, xLabel, kBlack);
}

}  // namespace

Status writeLatencyPlot(const std::string& path, const BenchResult& r) {
    if (r.iterations.empty()) return invalidArgument("--plot '" + path + "': no iterations to plot");
    std::vector<double> lat;
    for (const IterationTime& t : r.iterations) lat.push_back(t.latencyMs());
    const Stats stats(lat);
    double lo = stats.min();
    double hi = stats.max();
    if (hi - lo < 1e-9) hi = lo + 1e-3;  // all equal: a one-bar histogram still needs a range
    const int bins = std::clamp(static_cast<int>(std::sqrt(static_cast<double>(lat.size()))) * 2, 10, 60);
    std::vector<int> counts(static_cast<size_t>(bins), 0);
    for (double v : lat)
        ++counts[static_cast<size_t>(std::min(bins - 1, static_cast<int>((v - lo) / (hi - lo) * bins)))];
    const int peak = *std::max_element(counts.begin(), counts.end());

    Canvas c(960, 680);
    const Area hist{110, 50, 930, 290, lo, hi, 0, static_cast<double>(peak)};
    drawAxes(c, hist, "latency histogram: " + std::to_string(lat.size()) + " iterations", "latency (ms)",
             std::to_string(peak));
    for (int b = 0; b < bins; ++b) {
        const int x0 = hist.left + 2 + (hist.right - hist.left - 2) * b / bins;
        const int x1 = hist.left + 2 + (hist.right - hist.left - 2) * (b + 1) / bins - 1;
        c.fill(x0, hist.py(counts[static_cast<size_t>(b)]), x1, hist.bottom - 1, kBlue);
    }
    // Median and p99 as vertical lines, named in a legend on the title line (not over the bars).
    const std::string median = "median " + number(stats.median());
    const std::string p99 = "p99 " + number(stats.percentile(99));
    int legend = hist.right - Canvas::textWidth(p99);
    c.text(legend, hist.top - 26, p99, kRed);
    legend -= Canvas::textWidth(median + "  ");
    c.text(legend, hist.top - 26, median, kGreen);
    for (const auto& [value, colour] : {std::pair{stats.median(), kGreen}, std::pair{stats.percentile(99), kRed}}) {
        const int x = std::clamp(hist.px(value), hist.left, hist.right - 2);
        c.fill(x, hist.top, x + 2, hist.bottom, colour);
    }

    double maxTime = 0;
    for (const IterationTime& t : r.iterations) maxTime = std::max(maxTime, t.startMs / 1000.0);
    const Area time{110, 390, 930, 620, 0, std::max(maxTime, 1e-3), lo, hi};
    drawAxes(c, time, "latency (ms) of each iteration over time", "time (s)", number(hi));
    for (const IterationTime& t : r.iterations) {
        const int x = time.px(t.startMs / 1000.0);
        const int y = time.py(t.latencyMs());
        c.fill(x - 2, y - 2, x + 3, y + 3, kBlue);
    }
    return examples::writePng(path, c.image());
}

}  // namespace kiln::cli
