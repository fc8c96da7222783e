#pragma once
/// Reading LibTorch archives (saved models, checkpoints) that may be corrupt (issue 29).
///
/// torch::serialize files are zip archives of stored records (a pickle and one record per storage).
/// LibTorch trusts what they declare: a record's size in the zip directory is allocated before it
/// is read, and its unpickler throws std::out_of_range and friends on malformed bytes, not
/// c10::Error; it allocates a string of the length a pickle declares before reading it. So before
/// LibTorch sees a file its zip directory is checked against the file (every record lies inside
/// it; a stored record's size is its size on disk, a deflated one's at most deflate's 1032:1) and
/// its pickles are walked opcode by opcode (every declared length lies inside the pickle), which
/// bounds the memory of a failed read by about the file's size, and whatever LibTorch throws
/// while parsing becomes an InputError naming the file.
#include <string>

#include <torch/torch.h>

namespace sernn {

/// Loads `path` onto `device`. `what` names the kind of file in errors ("a model file", "a
/// checkpoint"): "<path>: not <what> (<reason>)".
torch::serialize::InputArchive read_archive(const std::string& path, const torch::Device& device,
                                            const std::string& what);

/// InputError unless every record of the zip archive `bytes` (from `path`) lies inside it and
/// declares a size the file can hold, and every length inside its pickles (strings, bytes) lies
/// inside the pickle. Exposed for tests.
void check_zip_directory(const std::string& bytes, const std::string& path);

/// Empty when `t` (read from `path` under `name`) addresses only elements of its storage, else why
/// not: an archive declares sizes, strides and offset apart from the storage it points into.
std::string outside_storage(const torch::Tensor& t, const std::string& path, const std::string& name);
/// InputError with outside_storage's message unless `t` lies inside its storage.
void check_within_storage(const torch::Tensor& t, const std::string& path, const std::string& name);

}  // namespace sernn
