#pragma once
/// An owned HDF5 identifier (file, group, dataset, dataspace, datatype, property list), closed by
/// its close function when it goes out of scope: the readers and writers of SHD files
/// (tasks/shd.cpp) and NIR graphs (run/nir.cpp) hold every identifier this way.
#include <hdf5.h>

namespace sernn {

class Hid {
 public:
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hid() {
    if (id_ >= 0) close_(id_);
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  Hid(Hid&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Hid& operator=(Hid&& other) noexcept {
    if (this != &other) {
      if (id_ >= 0) close_(id_);
      id_ = other.id_, close_ = other.close_, other.id_ = -1;
    }
    return *this;
  }
  operator hid_t() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

}  // namespace sernn
