#include "run/nir.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "run/export.h"
#include "run/registry.h"
#include "run/setup.h"
#include "tasks/hdf5_handle.h"
#include "tasks/shd.h"

namespace sernn {

namespace {

const char* reset_name(ResetMode mode) {
  switch (mode) {
    case ResetMode::Subtract: return "subtract";
    case ResetMode::SubtractDecayed: return "subtract_decayed";
    case ResetMode::Zero: return "zero";
    case ResetMode::None: return "none";
    case ResetMode::ZeroImmediate: return "zero_immediate";
  }
  return "subtract";
}

// ------------------------------------------------------------------------------------------
// Writing: the datasets h5py writes for nir (variable-length UTF-8 strings, arrays of their own
// dtype), so that nir.read and every tool on it read the file as one of its own.

Hid utf8_string_type() {
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  return type;
}

void check_written(herr_t status, const char* name) {
  if (status < 0) throw std::runtime_error(fmt::format("HDF5: cannot write dataset {}", name));
}

void write_string(hid_t group, const char* name, const std::string& value) {
  const auto type = utf8_string_type();
  Hid space(H5Screate(H5S_SCALAR), H5Sclose);
  Hid ds(H5Dcreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  const char* p = value.c_str();
  check_written(ds.ok() ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) : -1, name);
}

void write_tensor(hid_t group, const char* name, const torch::Tensor& t) {
  const auto c = t.detach().cpu().contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  hid_t type = H5T_NATIVE_DOUBLE;
  if (c.scalar_type() == torch::kFloat32) type = H5T_NATIVE_FLOAT;
  else if (c.scalar_type() == torch::kInt64) type = H5T_NATIVE_INT64;
  else TORCH_CHECK(c.scalar_type() == torch::kFloat64, "write_nir: unexpected dtype of ", name);
  Hid space(
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      H5Sclose);
  Hid ds(H5Dcreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  check_written(ds.ok() ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()) : -1, name);
}

void write_edges(hid_t group, const std::vector<std::pair<std::string, std::string>>& edges) {
  std::vector<const char*> flat;
  for (const auto& [a, b] : edges) flat.push_back(a.c_str()), flat.push_back(b.c_str());
  const hsize_t dims[2] = {edges.size(), 2};
  const auto type = utf8_string_type();
  Hid space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  Hid ds(H5Dcreate2(group, "edges", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  check_written(ds.ok() ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, flat.data()) : -1, "edges");
}

/// A group that keeps its links in creation order, so that h5py (and nir.read) list the nodes in
/// the order they compute: snnTorch's import_from_nir builds its modules in the order it reads.
Hid make_group(hid_t parent, const char* name) {
  Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (!gcpl.ok() || H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED) < 0)
    throw std::runtime_error("HDF5: cannot set the link creation order");
  Hid g(H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose);
  if (!g.ok()) throw std::runtime_error(fmt::format("HDF5: cannot create group {}", name));
  return g;
}

/// A node group of `nodes` with its type and `fields`.
void write_node(hid_t nodes, const char* name, const char* type,
                const std::vector<std::pair<const char*, torch::Tensor>>& fields) {
  const auto g = make_group(nodes, name);
  write_string(g, "type", type);
  for (const auto& [key, value] : fields) write_tensor(g, key, value);
}

torch::Tensor shape_of(int64_t n) { return torch::tensor({n}, torch::kInt64); }

// ------------------------------------------------------------------------------------------
// Reading, with every problem an InputError naming the file and the node.

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& node, const std::string& what) const {
    throw InputError(fmt::format("{}: node '{}': {}", path, node, what));
  }
  bool has(hid_t group, const std::string& name) const { return H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0; }

  Hid open_dataset(hid_t group, const std::string& node, const std::string& name) const {
    if (!has(group, name)) fail(node, fmt::format("no '{}'", name));
    Hid ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!ds.ok()) fail(node, fmt::format("'{}' is not a dataset", name));
    return ds;
  }

  /// Every element of string dataset `ds` (variable-length or fixed-size), in storage order; a
  /// null variable-length string is "" where `allow_null`, else a failure.
  std::vector<std::string> strings(hid_t ds, hid_t ftype, hid_t space, const std::string& node, const std::string& name,
                                   bool allow_null) const {
    const auto n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
    std::vector<std::string> out;
    if (H5Tis_variable_str(ftype) > 0) {
      std::vector<char*> ptrs(n, nullptr);
      const auto type = utf8_string_type();
      if (n > 0 && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
        fail(node, fmt::format("'{}' cannot be read", name));
      bool null = false;
      for (const char* p : ptrs) out.emplace_back(p ? p : ""), null |= !p;
      H5Dvlen_reclaim(type, space, H5P_DEFAULT, ptrs.data());
      if (null && !allow_null) fail(node, fmt::format("'{}' cannot be read", name));
      return out;
    }
    const size_t size = H5Tget_size(ftype);
    std::string raw(n * size, '\0');
    Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type, size);
    if (!raw.empty() && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      fail(node, fmt::format("'{}' cannot be read", name));
    for (size_t k = 0; k < n; ++k) {
      const auto one = raw.substr(k * size, size);
      out.push_back(one.substr(0, one.find('\0')));
    }
    return out;
  }

  std::string string(hid_t group, const std::string& node, const std::string& name) const {
    const auto ds = open_dataset(group, node, name);
    Hid ftype(H5Dget_type(ds), H5Tclose);
    Hid space(H5Dget_space(ds), H5Sclose);
    if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_npoints(space) != 1)
      fail(node, fmt::format("'{}' is not a string", name));
    return strings(ds, ftype, space, node, name, /*allow_null=*/false)[0];
  }

  /// A numeric dataset as float64, with its shape (a scalar: []).
  torch::Tensor array(hid_t group, const std::string& node, const std::string& name) const {
    const auto ds = open_dataset(group, node, name);
    Hid ftype(H5Dget_type(ds), H5Tclose);
    const auto cls = H5Tget_class(ftype);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) fail(node, fmt::format("'{}' is not numeric", name));
    Hid space(H5Dget_space(ds), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > 2) fail(node, fmt::format("'{}' has {} dimensions (at most 2 expected)", name, rank));
    hsize_t dims[2] = {1, 1};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    std::vector<int64_t> shape(dims, dims + rank);
    auto out = torch::empty(shape, torch::kFloat64);
    if (out.numel() > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) < 0)
      fail(node, fmt::format("'{}' cannot be read", name));
    return out;
  }

  std::vector<std::pair<std::string, std::string>> edges(hid_t group, const std::string& node) const {
    const auto ds = open_dataset(group, node, "edges");
    Hid ftype(H5Dget_type(ds), H5Tclose);
    Hid space(H5Dget_space(ds), H5Sclose);
    hsize_t dims[2] = {0, 0};
    if (H5Tget_class(ftype) != H5T_STRING || H5Sget_simple_extent_ndims(space) != 2 ||
        H5Sget_simple_extent_dims(space, dims, nullptr) < 0 || dims[1] != 2)
      fail(node, "'edges' is not a list of [from, to] names");
    const auto flat = strings(ds, ftype, space, node, "edges", /*allow_null=*/true);
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i + 1 < flat.size(); i += 2) out.emplace_back(flat[i], flat[i + 1]);
    return out;
  }

  std::vector<std::string> children(hid_t group) const {
    std::vector<std::string> names;
    H5Literate(
        group, H5_INDEX_NAME, H5_ITER_INC, nullptr,
        [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
          static_cast<std::vector<std::string>*>(data)->emplace_back(name);
          return 0;
        },
        &names);
    return names;
  }
};

/// One graph's nodes (name -> group) and edges, and the node types.
struct Graph {
  std::string name;  ///< "" for the top graph, else the subgraph's node name
  Hid nodes{-1, H5Gclose};
  std::map<std::string, std::string> type;
  std::vector<std::pair<std::string, std::string>> edges;
};

Graph open_graph(const Reader& r, hid_t group, const std::string& name) {
  const std::string label = name.empty() ? "(graph)" : name;
  if (r.string(group, label, "type") != "NIRGraph") r.fail(label, "not a NIRGraph");
  if (!r.has(group, "nodes")) r.fail(label, "no 'nodes'");
  Graph g;
  g.name = name;
  g.nodes = Hid(H5Gopen2(group, "nodes", H5P_DEFAULT), H5Gclose);
  if (!g.nodes.ok()) r.fail(label, "'nodes' is not a group");
  for (const auto& child : r.children(g.nodes)) {
    Hid node(H5Gopen2(g.nodes, child.c_str(), H5P_DEFAULT), H5Gclose);
    if (!node.ok()) r.fail(child, "not a group");
    g.type[child] = r.string(node, child, "type");
  }
  g.edges = r.edges(group, label);
  for (const auto& [a, b] : g.edges)
    for (const auto& end : {a, b})
      if (!g.type.count(end)) r.fail(label, fmt::format("an edge names '{}', which is no node of it", end));
  return g;
}

/// The recurrent pair of `g`: a LIF and an Affine (or Linear) connected both ways, or nothing.
std::optional<std::pair<std::string, std::string>> recurrent_pair(const Graph& g) {
  for (const auto& [a, b] : g.edges) {
    const auto &ta = g.type.at(a), &tb = g.type.at(b);
    if (ta == "LIF" && (tb == "Affine" || tb == "Linear") &&
        std::find(g.edges.begin(), g.edges.end(), std::make_pair(b, a)) != g.edges.end())
      return std::make_pair(a, b);
  }
  return std::nullopt;
}

/// The top graph's chain from its Input to its Output (each node's one successor), not entering
/// `skip` (the recurrent Affine of a layer written flat).
std::vector<std::string> chain(const Reader& r, const Graph& g, const std::string& skip) {
  std::string at;
  for (const auto& [name, type] : g.type)
    if (type == "Input") at = name;
  if (at.empty()) r.fail("(graph)", "no Input node");
  std::vector<std::string> out{at};
  while (g.type.at(at) != "Output") {
    std::string next;
    for (const auto& [a, b] : g.edges)
      if (a == at && b != skip) {
        if (!next.empty()) r.fail(at, "more than one successor (sernn reads a chain of layers)");
        next = b;
      }
    if (next.empty()) r.fail(at, "no successor before the Output node");
    if (out.size() > g.type.size()) r.fail(at, "the edges loop outside the recurrent subgraph");
    out.push_back(at = next);
  }
  return out;
}

/// An Affine's (or a Linear's) weight [rows, cols] and bias [rows] (zero for a Linear).
std::pair<torch::Tensor, torch::Tensor> affine(const Reader& r, const Graph& g, const std::string& name) {
  const auto& type = g.type.at(name);
  if (type != "Affine" && type != "Linear") r.fail(name, fmt::format("a {} where sernn expects an Affine", type));
  Hid node(H5Gopen2(g.nodes, name.c_str(), H5P_DEFAULT), H5Gclose);
  const auto w = r.array(node, name, "weight");
  if (w.dim() != 2) r.fail(name, fmt::format("weight of shape {} (2 dimensions expected)", c10::str(w.sizes())));
  auto b = type == "Affine" ? r.array(node, name, "bias") : torch::zeros({w.size(0)}, torch::kFloat64);
  if (b.dim() != 1 || b.size(0) != w.size(0))
    r.fail(name, fmt::format("bias of shape {} for a weight {}", c10::str(b.sizes()), c10::str(w.sizes())));
  return {w.to(torch::kFloat32), b.to(torch::kFloat32)};
}

/// A neuron's τ [n] (checked: r = τ / dt, v_leak = 0 and, for a LIF, v_reset = 0) and, for a LIF,
/// its threshold (the same for every neuron).
torch::Tensor time_constant(const Reader& r, const Graph& g, const std::string& name, int64_t n, double dt,
                            double* threshold) {
  Hid node(H5Gopen2(g.nodes, name.c_str(), H5P_DEFAULT), H5Gclose);
  const auto vec = [&](const char* key) {
    auto v = r.array(node, name, key).flatten();
    if (v.numel() == 1 && n > 1) v = v.expand({n}).clone();
    if (v.numel() != n) r.fail(name, fmt::format("'{}' has {} values for {} neurons", key, v.numel(), n));
    return v;
  };
  const auto tau = vec("tau"), res = vec("r"), leak = vec("v_leak");
  if (!(tau > 0).all().item<bool>()) r.fail(name, "tau must be positive");
  if (!torch::allclose(res, tau / dt, 1e-6, 0))
    r.fail(name, fmt::format("r must be tau / dt (dt = {}): sernn has no input resistance", dt));
  if (!leak.eq(0).all().item<bool>()) r.fail(name, "v_leak must be 0: sernn's neurons leak towards 0");
  if (threshold) {
    const auto thr = vec("v_threshold");
    if (!thr.eq(thr[0]).all().item<bool>()) r.fail(name, "v_threshold differs between neurons (sernn has one)");
    *threshold = thr[0].item<double>();
    if (r.has(node, "v_reset") && !vec("v_reset").eq(0).all().item<bool>())
      r.fail(name, "v_reset must be 0 (sernn resets to 0 or by subtraction)");
  }
  return tau;
}

void read_metadata(const Reader& r, hid_t top, NirNetwork& net) {
  if (!r.has(top, "metadata")) return;
  Hid meta(H5Gopen2(top, "metadata", H5P_DEFAULT), H5Gclose);
  const std::string node = "(graph metadata)";
  if (r.has(meta, "dt")) net.dt = r.array(meta, node, "dt").item<double>();
  if (!(net.dt > 0 && std::isfinite(net.dt))) r.fail(node, fmt::format("dt = {} is not a time step", net.dt));
  if (r.has(meta, "reset")) {
    net.reset = r.string(meta, node, "reset");
    try {
      (void)parse_reset(net.reset);
    } catch (const InputError& e) {
      r.fail(node, e.what());
    }
  }
  if (r.has(meta, "config")) net.config = r.string(meta, node, "config");
  if (r.has(meta, "epoch")) net.epoch = static_cast<int64_t>(r.array(meta, node, "epoch").item<double>());
  if (r.has(meta, "coords")) net.coords = r.array(meta, node, "coords");
  if (r.has(meta, "input_bias") && r.has(meta, "recurrent_bias")) {
    net.unfolded_input_bias = r.array(meta, node, "input_bias").to(torch::kFloat32);
    net.unfolded_recurrent_bias = r.array(meta, node, "recurrent_bias").to(torch::kFloat32);
  }
}

}  // namespace

torch::Tensor beta_of_tau(const torch::Tensor& tau, double dt) { return (1.0 - dt / tau).to(torch::kFloat32); }

NirNetwork nir_of(Network& network, const Config& config, const torch::Tensor& coords, int64_t epoch) {
  auto* s = dynamic_cast<SpikingRNNImpl*>(&network);
  if (!s)
    throw InputError(
        fmt::format("model.kind '{}': NIR has no node for a rate network (only spiking runs export as NIR)",
                    config.get_string("model.kind")));
  torch::NoGradGuard no_grad;
  NirNetwork g;
  const auto f64 = [](const torch::Tensor& t) { return t.detach().to(torch::kFloat64); };
  g.input_weight = s->input->weight.detach().clone();
  g.input_bias = (s->input->bias + s->recurrent->bias).detach();  // as SpikingRNN::drive folds them
  g.recurrent_weight = s->recurrent_weight().detach().clone();
  g.recurrent_bias = torch::zeros_like(g.input_bias);
  g.tau = kNirDt / (1.0 - f64(s->beta).clamp(0.0, 1.0));  // the forward clamps β to [0, 1]
  g.readout_tau = kNirDt / (1.0 - f64(s->readout_beta).clamp(0.0, 1.0));
  g.threshold = s->options.threshold();
  g.readout_weight = s->readout->weight.detach().clone();
  g.readout_bias = s->readout->bias.detach().clone();
  g.reset = reset_name(s->options.reset());
  g.config = config.to_json().dump();
  g.coords = coords.to(torch::kFloat64);
  g.unfolded_input_bias = s->input->bias.detach().clone();
  g.unfolded_recurrent_bias = s->recurrent->bias.detach().clone();
  g.epoch = epoch;
  return g;
}

void write_nir(const std::string& path, const NirNetwork& g) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const int64_t N = g.recurrent_weight.size(0), I = g.input_weight.size(1), C = g.readout_weight.size(0);
  atomic_write_with(path, [&](const std::string& tmp) {
    Hid file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) throw std::runtime_error(fmt::format("{}: cannot create HDF5 file", tmp));
    write_string(file, "version", "1.0.0");
    const auto top = make_group(file, "node");
    write_string(top, "type", "NIRGraph");
    write_edges(top, {{"input", "fc_in"}, {"fc_in", "rlif"}, {"rlif", "fc_out"}, {"fc_out", "li"}, {"li", "output"}});
    {
      const auto meta = make_group(top, "metadata");
      write_string(meta, "producer", "sernn");
      write_string(meta, "reset", g.reset.empty() ? "zero" : g.reset);
      write_tensor(meta, "dt", torch::tensor(g.dt, torch::kFloat64));
      write_tensor(meta, "epoch", torch::tensor(g.epoch, torch::kInt64));
      if (!g.config.empty()) write_string(meta, "config", g.config);
      if (g.coords.defined()) write_tensor(meta, "coords", g.coords);
      if (g.unfolded_input_bias.defined()) write_tensor(meta, "input_bias", g.unfolded_input_bias);
      if (g.unfolded_recurrent_bias.defined()) write_tensor(meta, "recurrent_bias", g.unfolded_recurrent_bias);
    }
    const auto nodes = make_group(top, "nodes");
    write_node(nodes, "input", "Input", {{"shape", shape_of(I)}});
    write_node(nodes, "fc_in", "Affine", {{"weight", g.input_weight}, {"bias", g.input_bias}});
    {
      const auto rlif = make_group(nodes, "rlif");
      write_string(rlif, "type", "NIRGraph");
      write_edges(rlif, {{"input", "lif"}, {"lif", "w_rec"}, {"w_rec", "lif"}, {"lif", "output"}});
      const auto sub = make_group(rlif, "nodes");
      const auto zeros = torch::zeros({N}, torch::kFloat64);
      write_node(sub, "input", "Input", {{"shape", shape_of(N)}});
      write_node(sub, "lif", "LIF",
                 {{"tau", g.tau},
                  {"r", g.tau / g.dt},
                  {"v_leak", zeros},
                  {"v_reset", zeros},
                  {"v_threshold", torch::full({N}, g.threshold, torch::kFloat64)}});
      write_node(sub, "w_rec", "Affine", {{"weight", g.recurrent_weight}, {"bias", g.recurrent_bias}});
      write_node(sub, "output", "Output", {{"shape", shape_of(N)}});
    }
    write_node(nodes, "fc_out", "Affine", {{"weight", g.readout_weight}, {"bias", g.readout_bias}});
    // The leaky readout: a LI, or (lif_readout) a LIF that never fires, which snnTorch's importer reads.
    const auto zeros_c = torch::zeros({C}, torch::kFloat64);
    std::vector<std::pair<const char*, torch::Tensor>> readout{
        {"tau", g.readout_tau}, {"r", g.readout_tau / g.dt}, {"v_leak", zeros_c}};
    if (g.lif_readout) {
      readout.emplace_back("v_reset", zeros_c);
      readout.emplace_back("v_threshold", torch::full({C}, std::numeric_limits<double>::infinity(), torch::kFloat64));
    }
    write_node(nodes, "li", g.lif_readout ? "LIF" : "LI", readout);
    write_node(nodes, "output", "Output", {{"shape", shape_of(C)}});
  });
}

NirNetwork read_nir(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  if (!file_exists(path)) throw InputError(fmt::format("{}: file not found", path));
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(fmt::format("{}: not an HDF5 file (NIR files are HDF5)", path));
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw InputError(fmt::format("{}: cannot open HDF5 file (truncated or corrupt?)", path));
  const Reader r{path};
  if (!r.has(file, "node")) throw InputError(fmt::format("{}: no NIR graph ('node' group missing)", path));
  Hid top(H5Gopen2(file, "node", H5P_DEFAULT), H5Gclose);
  NirNetwork net;
  read_metadata(r, top, net);
  const auto g = open_graph(r, top, "");
  // The recurrent layer is a subgraph (sernn, snnTorch's own export) or, written through
  // nirtorch, a LIF and an Affine connected both ways in the top graph.
  const auto flat = recurrent_pair(g);
  const auto layers = chain(r, g, flat ? flat->second : "");
  std::vector<std::string> types;
  for (const auto& n : layers) types.push_back(g.type.at(n));
  const auto dense = [](const std::string& t) { return t == "Affine" || t == "Linear"; };
  const bool shape_ok = types.size() == 6 && dense(types[1]) &&
                        (types[2] == "NIRGraph" || (flat && layers[2] == flat->first)) && dense(types[3]) &&
                        (types[4] == "LI" || types[4] == "LIF");
  if (!shape_ok)
    r.fail("(graph)", fmt::format("the layers {} are not Input → Affine → recurrent LIF layer → Affine → LI → "
                                  "Output (sernn's and snnTorch's RLeaky layout)",
                                  fmt::join(types, " → ")));
  std::tie(net.input_weight, net.input_bias) = affine(r, g, layers[1]);
  std::tie(net.readout_weight, net.readout_bias) = affine(r, g, layers[3]);
  std::optional<Graph> nested;
  std::string lif, wrec;
  if (flat) {
    std::tie(lif, wrec) = *flat;
  } else {
    // The recurrent subgraph: Input → LIF → Output, LIF → (Affine | Linear) → LIF.
    Hid rgroup(H5Gopen2(g.nodes, layers[2].c_str(), H5P_DEFAULT), H5Gclose);
    nested = open_graph(r, rgroup, layers[2]);
    for (const auto& [name, type] : nested->type)
      if (type != "Input" && type != "Output" && type != "LIF" && !dense(type))
        r.fail(name, fmt::format("a {} inside the recurrent subgraph '{}'", type, layers[2]));
    const auto pair = recurrent_pair(*nested);
    if (!pair) r.fail(layers[2], "not a recurrent LIF layer (a LIF and an Affine connected both ways)");
    std::tie(lif, wrec) = *pair;
  }
  const Graph& rec = nested ? *nested : g;
  std::tie(net.recurrent_weight, net.recurrent_bias) = affine(r, rec, wrec);
  const int64_t N = net.recurrent_weight.size(0), C = net.readout_weight.size(0);
  if (net.recurrent_weight.size(1) != N) r.fail(wrec, "the recurrent weight is not square");
  if (net.input_weight.size(0) != N)
    r.fail(layers[1], fmt::format("{} outputs for {} neurons", net.input_weight.size(0), N));
  if (net.readout_weight.size(1) != N)
    r.fail(layers[3], fmt::format("{} inputs for {} neurons", net.readout_weight.size(1), N));
  net.tau = time_constant(r, rec, lif, N, net.dt, &net.threshold);
  net.readout_tau = time_constant(r, g, layers[4], C, net.dt, nullptr);  // a LIF readout: its membrane
  net.lif_readout = types[4] == "LIF";
  if (net.coords.defined() && (net.coords.dim() != 2 || net.coords.size(0) != N || net.coords.size(1) != 3))
    r.fail("(graph metadata)", fmt::format("coords of shape {} for {} neurons", c10::str(net.coords.sizes()), N));
  // The recurrent Affine's bias joins the folded input bias (the drive adds both every step).
  if (!net.recurrent_bias.eq(0).all().item<bool>()) {
    net.input_bias = net.input_bias + net.recurrent_bias;
    net.unfolded_input_bias = net.unfolded_recurrent_bias = torch::Tensor();
  }
  if (net.unfolded_input_bias.defined() &&
      !torch::equal(net.unfolded_input_bias + net.unfolded_recurrent_bias, net.input_bias))
    net.unfolded_input_bias = net.unfolded_recurrent_bias = torch::Tensor();  // not this graph's: folded it is
  return net;
}

void load_nir(SpikingRNNImpl& s, const NirNetwork& g) {
  torch::NoGradGuard no_grad;
  const int64_t N = s.options.hidden();
  TORCH_CHECK(g.recurrent_weight.size(0) == N && g.input_weight.size(1) == s.options.inputs() &&
                  g.readout_weight.size(0) == s.options.outputs(),
              "load_nir: the network's sizes differ from the graph's");
  s.input->weight.copy_(g.input_weight);
  if (g.unfolded_input_bias.defined()) {
    s.input->bias.copy_(g.unfolded_input_bias);
    s.recurrent->bias.copy_(g.unfolded_recurrent_bias);
  } else {
    s.input->bias.copy_(g.input_bias);
    s.recurrent->bias.zero_();
  }
  s.recurrent->weight.copy_(g.recurrent_weight);
  s.beta.copy_(beta_of_tau(g.tau, g.dt));
  s.readout->weight.copy_(g.readout_weight);
  s.readout->bias.copy_(g.readout_bias);
  s.readout_beta.copy_(beta_of_tau(g.readout_tau, g.dt));
}

namespace {

/// The config of an imported graph: its own (sernn wrote it), else the spiking SHD defaults,
/// sized to it; full rank without Dale's law either way (the graph holds the effective W).
Config imported_config(const NirNetwork& g, const std::string& nir_path) {
  Config c;
  if (!g.config.empty()) {
    c = Config::from_json(nlohmann::json::parse(g.config), nir_path + " (metadata 'config')");
  } else {
    c.set("model.kind=spiking", nir_path);
    c.set("task.kind=shd", nir_path);
  }
  c.set(fmt::format("model.hidden={}", g.recurrent_weight.size(0)), nir_path);
  c.set(fmt::format("model.threshold={}", g.threshold), nir_path);
  c.set("model.reset=" + (g.reset.empty() ? std::string("zero") : g.reset), nir_path);
  c.set("model.rank=0", nir_path);
  c.set("model.dale=false", nir_path);
  c.set("model.connectivity=1", nir_path);
  return c;
}

}  // namespace

void import_nir(const std::string& nir_path, const std::string& run_dir, const std::string& coords_csv) {
  const auto g = read_nir(nir_path);
  const int64_t N = g.recurrent_weight.size(0);
  if (g.input_weight.size(1) != kShdUnits || g.readout_weight.size(0) != kShdClasses)
    throw InputError(fmt::format("{}: a {} → {} network; sernn's spiking runs read SHD ({} channels, {} classes)",
                                 nir_path, g.input_weight.size(1), g.readout_weight.size(0), kShdUnits, kShdClasses));
  torch::Tensor coords = g.coords;
  if (!coords_csv.empty()) coords = read_coords_csv(coords_csv);
  if (!coords.defined())
    throw InputError(
        fmt::format("{}: no coordinates in its metadata; give --coords CSV ({} rows x, y, z)", nir_path, N));
  if (coords.size(0) != N)
    throw InputError(fmt::format("{}: {} coordinates for {} neurons", coords_csv.empty() ? nir_path : coords_csv,
                                 coords.size(0), N));
  auto config = imported_config(g, nir_path);
  make_dirs(run_dir);
  const RunDir dir(run_dir);
  dir.write_coords(coords);
  config.set("model.coords=" + std::filesystem::absolute(dir.file("coords.csv")).string(), nir_path);
  auto net = make_network(config, kShdUnits, kShdClasses);
  load_nir(dynamic_cast<SpikingRNNImpl&>(*net), g);
  dir.clear_training_files();
  dir.write_config_json(config.to_json());
  dir.write_snapshot(0, net->recurrent_weight(), *net);
  // A checkpoint at epoch 0 with a fresh Adam: `sernn train --resume` trains the imported network.
  TrainPosition pos;
  pos.correct = torch::zeros({1}, torch::kInt64);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(config.get_float("train.lr")));
  write_checkpoint(dir.file("checkpoint.pt"), pos, {false}, *net, adam);
  dir.write_state({RunStatus::Finished, 0, 0, fmt::format("imported from {}", nir_path)});
}

double export_run_nir(const std::string& run_dir, const std::string& out_path, int64_t epoch, bool lif_readout) {
  const auto run = load_run(run_dir, epoch);
  auto graph = nir_of(*run.network, run.config, run.coords, run.epoch);
  graph.lif_readout = lif_readout;
  write_nir(out_path, graph);
  // Verify the file: read back, rebuilt as a network, against the engine in float64.
  return verified_or_removed(out_path, [&] {
    const auto g = read_nir(out_path);
    auto back = make_network(imported_config(g, out_path), run.inputs, run.classes);
    load_nir(dynamic_cast<SpikingRNNImpl&>(*back), g);
    torch::NoGradGuard no_grad;
    back->to(torch::kFloat64);
    run.network->to(torch::kFloat64);
    torch::manual_seed(1234);
    const auto& model = find_model("spiking");
    const auto x = model.example_input(50, 4, run.inputs).to(torch::kFloat64);
    return compare_outputs(model.outputs(*run.network, x), model.outputs(*back, x),
                           "the network read back from the NIR file");
  });
}

double export_run_as(const std::string& format, const std::string& run_dir, const std::string& out_path, int64_t epoch,
                     const std::string& nir_readout) {
  if (nir_readout != "li" && nir_readout != "lif")
    throw InputError(fmt::format("--nir-readout {}: li or lif", nir_readout));
  if (format == "nir") return export_run_nir(run_dir, out_path, epoch, nir_readout == "lif");
  if (nir_readout != "li") throw InputError("--nir-readout: only with --format nir");
  if (format == "torchscript") return export_run(run_dir, out_path, epoch);
  throw InputError(fmt::format("--format {}: torchscript or nir", format));
}

}  // namespace sernn
