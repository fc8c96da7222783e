#pragma once
/// SHD's events where the kernels are (issue 36): a file's samples binned once, in a compact
/// form, on the training device, and each batch gathered from it there, with no host work and
/// no host copy per batch.
///
/// The compact form. Binning (tasks/shd.h: ShdBinning) depends on a sample alone, so each
/// sample's events become its entries once: (bin k, unit u, count) for every occupied cell,
/// ordered by k, then u. For sample i they are [start[i], start[i + 1]):
///   code  [E] int32    k * 700 + u
///   count [E] float32  events in that cell (what the dense counts hold there)
///   start [S + 1] int64, labels [S] int64
/// About 8 bytes per occupied cell: ~300 MB for SHD's 8,156 training samples, where the events
/// themselves take as much (ShdTask keeps this form and drops the events).
///
/// A batch of samples idx [B] (on the device) is then, by gathers and one scatter:
///   b(e)   = the batch row of entry e         (repeat_interleave of the samples' entry counts)
///   r(e)   = k(e) B + b(e)                    (the row of [T B, 700] it lands in)
///   pos(e) = rows_before(r) + (e's rank inside its sample) - (entries of its sample before bin k)
/// which places every entry where a coalesced COO tensor [T, B, 700] (ordered by time, sample,
/// unit) holds it: the sparse batch bin_sparse builds, bit for bit, without a sort. The dense
/// form is one index_put of the counts into zeros. Sizes (the batch's entry count) come from the
/// host's copy of `start`, so nothing is read back from the device.
#include <vector>

#include <torch/torch.h>

#include "tasks/shd.h"

namespace sernn {

class ShdEvents {
 public:
  /// The samples `samples` of `data` binned by `binning`, on the CPU: sample j here is
  /// samples[j] there.
  ShdEvents(const ShdData& data, const std::vector<int64_t>& samples, const ShdBinning& binning);
  /// This form on `device` (one copy of its tensors; the host's entry offsets stay).
  ShdEvents to(torch::Device device) const;

  int64_t size() const { return static_cast<int64_t>(host_start_.size()) - 1; }
  int64_t steps() const { return steps_; }
  torch::Device device() const { return code_.device(); }
  /// Entries of samples `samples` (host indices): the batch's nonzero count.
  int64_t entries(const std::vector<int64_t>& samples) const;
  /// The label of sample i (host).
  int64_t label(int64_t i) const { return host_labels_[i]; }

  /// The counts [T, B, 700] of samples `idx` ([B] int64 on device(); `samples` the same indices on
  /// the host, for sizes): a coalesced sparse COO tensor equal to bin_sparse's, or dense float32.
  torch::Tensor batch(const torch::Tensor& idx, const std::vector<int64_t>& samples, bool sparse) const;
  /// The labels [B] of samples idx (on device()).
  torch::Tensor labels(const torch::Tensor& idx) const { return labels_.index_select(0, idx); }

 private:
  ShdEvents() = default;
  torch::Tensor code_, count_, start_, labels_;
  std::vector<int64_t> host_start_, host_labels_;
  int64_t steps_ = 0;
};

}  // namespace sernn
