# The Python that runs the package `sernn` (python/sernn, issue 28): the first interpreter whose
# torch is the Torch sernn builds against (same major.minor; with CUDA when Torch has CUDA), since
# libsernn_ops.so only loads into that torch. Candidates: SERNN_PYTHON if set, python3 on PATH,
# /usr/bin/python3 (Debian's python3-torch). Sets SERNN_PYTHON (empty when none fits: the Python
# tests are then not added) and SERNN_PYTHON_VERSION (3.X).
set(SERNN_PYTHON "" CACHE FILEPATH "Python interpreter with the torch sernn builds against (empty: search)")
string(REGEX MATCH "^[0-9]+\\.[0-9]+" _sernn_torch_mm "${Torch_VERSION}")
set(_sernn_py_candidates ${SERNN_PYTHON} ${Python_EXECUTABLE} ${Python3_EXECUTABLE})
find_program(_sernn_path_python python3)
list(APPEND _sernn_py_candidates ${_sernn_path_python} /usr/bin/python3)
set(_sernn_python "")
foreach(py IN LISTS _sernn_py_candidates)
  if(NOT EXISTS "${py}")
    continue()
  endif()
  execute_process(
    COMMAND ${py} -c "import sys, torch; print(torch.__version__); print(torch.version.cuda is not None); print('%d.%d' % sys.version_info[:2])"
    OUTPUT_VARIABLE _sernn_py_out RESULT_VARIABLE _sernn_py_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _sernn_py_rc EQUAL 0)
    continue()
  endif()
  string(REPLACE "\n" ";" _sernn_py_out "${_sernn_py_out}")
  list(GET _sernn_py_out 0 _v)
  list(GET _sernn_py_out 1 _cuda)
  list(GET _sernn_py_out 2 _pyver)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _v "${_v}")
  if(_v STREQUAL _sernn_torch_mm AND (NOT SERNN_HAS_CUDA OR _cuda STREQUAL "True"))
    set(_sernn_python ${py})
    set(SERNN_PYTHON_VERSION ${_pyver})
    break()
  endif()
endforeach()
set(SERNN_PYTHON ${_sernn_python} CACHE FILEPATH "Python interpreter with the torch sernn builds against (empty: search)" FORCE)
if(SERNN_PYTHON)
  message(STATUS "sernn: Python package for ${SERNN_PYTHON} (Python ${SERNN_PYTHON_VERSION}, torch ${_sernn_torch_mm})")
else()
  set(SERNN_PYTHON_VERSION 3)
  message(STATUS "sernn: no Python with torch ${_sernn_torch_mm}: the package is installed, its tests are not run")
endif()
