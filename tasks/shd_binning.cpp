#include <algorithm>
#include <cmath>
#include <vector>

#include "tasks/shd.h"
#include "tasks/shd_events.h"

namespace sernn {

namespace {

/// Calls add(k, unit) for every event of sample i that falls in a bin k < steps: per-sample binning
/// (`bins` equal bins from the first to the last event) or fixed (width dt, later events dropped).
/// The one definition of the binning, for the dense and the sparse batches.
template <class Add>
void for_each_binned_event(const ShdData& d, int64_t i, const ShdBinning& bn, Add&& add) {
  const int64_t lo = d.offsets[i], hi = d.offsets[i + 1];
  if (hi == lo) return;
  if (bn.per_sample) {
    const auto [mn, mx] = std::minmax_element(d.times.begin() + lo, d.times.begin() + hi);
    const double first = *mn, span = static_cast<double>(*mx) - first;
    for (int64_t e = lo; e < hi; ++e) {
      int64_t k = span > 0 ? static_cast<int64_t>(std::floor((d.times[e] - first) / span * bn.bins)) : 0;
      add(std::min(k, bn.bins - 1), d.units[e]);  // the last event closes the last bin
    }
    return;
  }
  for (int64_t e = lo; e < hi; ++e) {
    const auto k = static_cast<int64_t>(std::floor(d.times[e] / bn.dt));
    if (k < bn.max_steps) add(k, d.units[e]);
  }
}

torch::Tensor bin_dense(const ShdData& d, const std::vector<int64_t>& idx, const ShdBinning& bn) {
  const int64_t B = static_cast<int64_t>(idx.size());
  auto out = torch::zeros({bn.steps(), B, kShdUnits});
  float* p = out.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for_each_binned_event(d, idx[b], bn, [&](int64_t k, int32_t u) { p[(k * B + b) * kShdUnits + u] += 1.0f; });
  return out;
}

/// Sample i's binned events as entries (bin k, unit u, count) appended to `code` (k * 700 + u) and
/// `count`, ordered by k, then u: the per-sample part of every sparse batch (bin_sparse, ShdEvents).
/// `bin_of`, `unit_of` and `bucketed` are scratch.
struct EntryScratch {
  std::vector<int64_t> bin_of, fill;
  std::vector<int32_t> unit_of, bucketed;
};

void sample_entries(const ShdData& d, int64_t i, const ShdBinning& bn, std::vector<int32_t>& code,
                    std::vector<float>& count, EntryScratch& s) {
  const int64_t T = bn.steps();
  s.bin_of.clear(), s.unit_of.clear();
  for_each_binned_event(d, i, bn, [&](int64_t k, int32_t u) { s.bin_of.push_back(k), s.unit_of.push_back(u); });
  // Bucketed by bin (a counting sort), then each bin's units sorted and counted.
  s.fill.assign(T + 1, 0);
  for (const int64_t k : s.bin_of) ++s.fill[k + 1];
  for (int64_t k = 0; k < T; ++k) s.fill[k + 1] += s.fill[k];
  s.bucketed.resize(s.bin_of.size());
  std::vector<int64_t> next(s.fill.begin(), s.fill.end() - 1);
  for (size_t e = 0; e < s.bin_of.size(); ++e) s.bucketed[next[s.bin_of[e]]++] = s.unit_of[e];
  for (int64_t k = 0; k < T; ++k) {
    auto first = s.bucketed.begin() + s.fill[k], last = s.bucketed.begin() + s.fill[k + 1];
    std::sort(first, last);
    for (auto it = first; it != last;) {
      const auto run_end = std::upper_bound(it, last, *it);
      code.push_back(static_cast<int32_t>(k * kShdUnits + *it)), count.push_back(static_cast<float>(run_end - it));
      it = run_end;
    }
  }
}

}  // namespace

int64_t ShdBinning::steps() const { return per_sample ? bins : max_steps; }

torch::Tensor bin_per_sample(const ShdData& d, const std::vector<int64_t>& idx, int64_t bins) {
  return bin_dense(d, idx, {true, bins, 0.0, 0});
}

torch::Tensor bin_fixed(const ShdData& d, const std::vector<int64_t>& idx, double dt, int64_t max_steps) {
  return bin_dense(d, idx, {false, 0, dt, max_steps});
}

torch::Tensor bin_sparse(const ShdData& d, const std::vector<int64_t>& idx, const ShdBinning& bn) {
  const int64_t B = static_cast<int64_t>(idx.size()), T = bn.steps();
  // Per sample its entries (ordered by bin, then unit) and where each bin's entries start.
  std::vector<std::vector<int32_t>> code(B);
  std::vector<std::vector<float>> counts(B);
  std::vector<std::vector<int64_t>> start(B);
  EntryScratch scratch;
  for (int64_t b = 0; b < B; ++b) {
    sample_entries(d, idx[b], bn, code[b], counts[b], scratch);
    auto& st = start[b];
    st.assign(T + 1, 0);
    for (const int32_t c : code[b]) ++st[c / kShdUnits + 1];
    for (int64_t k = 0; k < T; ++k) st[k + 1] += st[k];
  }
  int64_t nnz = 0;
  for (const auto& c : code) nnz += static_cast<int64_t>(c.size());
  auto indices = torch::empty({3, nnz}, torch::kInt64);
  auto values = torch::empty({nnz}, torch::kFloat32);
  int64_t *ti = indices[0].data_ptr<int64_t>(), *bi = indices[1].data_ptr<int64_t>(),
          *ui = indices[2].data_ptr<int64_t>();
  float* vp = values.data_ptr<float>();
  int64_t n = 0;
  for (int64_t k = 0; k < T; ++k)  // the order of a coalesced tensor: time, sample, unit
    for (int64_t b = 0; b < B; ++b)
      for (int64_t e = start[b][k]; e < start[b][k + 1]; ++e, ++n)
        ti[n] = k, bi[n] = b, ui[n] = code[b][e] % kShdUnits, vp[n] = counts[b][e];
  return at::_sparse_coo_tensor_unsafe(indices, values, {T, B, kShdUnits})._coalesced_(true);
}

ShdEvents::ShdEvents(const ShdData& d, const std::vector<int64_t>& samples, const ShdBinning& bn) : steps_(bn.steps()) {
  std::vector<int32_t> code;
  std::vector<float> count;
  EntryScratch scratch;
  host_start_.assign(1, 0);
  for (const int64_t i : samples) {
    sample_entries(d, i, bn, code, count, scratch);
    host_start_.push_back(static_cast<int64_t>(code.size()));
    host_labels_.push_back(d.labels[i]);
  }
  code_ = torch::tensor(code, torch::kInt32);
  count_ = torch::tensor(count, torch::kFloat32);
  start_ = torch::tensor(host_start_, torch::kInt64);
  labels_ = torch::tensor(host_labels_, torch::kInt64);
}

ShdEvents ShdEvents::to(torch::Device device) const {
  ShdEvents out = *this;
  for (auto* t : {&out.code_, &out.count_, &out.start_, &out.labels_}) *t = t->to(device);
  return out;
}

int64_t ShdEvents::entries(const std::vector<int64_t>& samples) const {
  int64_t n = 0;
  for (const int64_t i : samples) n += host_start_[i + 1] - host_start_[i];
  return n;
}

torch::Tensor ShdEvents::batch(const torch::Tensor& idx, const std::vector<int64_t>& samples, bool sparse) const {
  const auto B = static_cast<int64_t>(samples.size()), T = steps_, nnz = entries(samples);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device());
  const auto first = start_.index_select(0, idx);
  const auto lens = start_.index_select(0, idx + 1) - first;
  const auto b = torch::repeat_interleave(
      lens, c10::optional<int64_t>(nnz));  // the batch row of each entry (nnz from the host: no read)
  const auto rank = torch::arange(nnz, i64) - (lens.cumsum(0) - lens).index_select(0, b);  // inside its sample
  const auto entry = first.index_select(0, b) + rank;
  const auto code = code_.index_select(0, entry).to(torch::kInt64);
  const auto count = count_.index_select(0, entry);
  const auto k = torch::div(code, kShdUnits, "floor"), u = code - k * kShdUnits;
  const auto row = k * B + b;  // its row of [T B, 700]
  if (!sparse) {
    auto dense = torch::zeros({T * B * kShdUnits}, count.options());
    dense.index_put_({row * kShdUnits + u}, count);  // cells are distinct: no accumulation
    return dense.view({T, B, kShdUnits});
  }
  // Where a coalesced tensor holds the entry: the rows before its row, plus its rank among its
  // sample's entries of bin k (its rank in the sample less the sample's entries of earlier bins).
  const auto per_row = torch::zeros({T * B}, i64).index_add_(0, row, torch::ones_like(row)).view({T, B});
  const auto rows_before = (per_row.flatten().cumsum(0) - per_row.flatten()).index_select(0, row);
  const auto bins_before = (per_row.cumsum(0) - per_row).flatten().index_select(0, row);
  const auto pos = rows_before + rank - bins_before;
  auto indices = torch::empty({3, nnz}, i64).index_copy_(1, pos, torch::stack({k, b, u}));
  auto values = torch::empty({nnz}, count.options()).index_copy_(0, pos, count);
  return at::_sparse_coo_tensor_unsafe(indices, values, {T, B, kShdUnits})._coalesced_(true);
}

}  // namespace sernn
