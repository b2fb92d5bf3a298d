# Finds ONNX Runtime's C/C++ API and defines the imported target ONNXRuntime::ONNXRuntime.
# Looks in ONNXRUNTIME_ROOT (cache or environment), then in the copy that
# scripts/install-deps.sh unpacks under .deps/, then in the system's usual places.
file(GLOB _berth_ort_local "${PROJECT_SOURCE_DIR}/.deps/onnxruntime-*")
find_path(ONNXRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
  HINTS ${ONNXRUNTIME_ROOT} $ENV{ONNXRUNTIME_ROOT} ${_berth_ort_local}
  PATH_SUFFIXES include include/onnxruntime include/onnxruntime/core/session)
find_library(ONNXRuntime_LIBRARY onnxruntime
  HINTS ${ONNXRUNTIME_ROOT} $ENV{ONNXRUNTIME_ROOT} ${_berth_ort_local}
  PATH_SUFFIXES lib lib64)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ONNXRuntime
  REQUIRED_VARS ONNXRuntime_LIBRARY ONNXRuntime_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "run scripts/install-deps.sh or set ONNXRUNTIME_ROOT")
if(ONNXRuntime_FOUND AND NOT TARGET ONNXRuntime::ONNXRuntime)
  add_library(ONNXRuntime::ONNXRuntime SHARED IMPORTED)
  set_target_properties(ONNXRuntime::ONNXRuntime PROPERTIES
    IMPORTED_LOCATION "${ONNXRuntime_LIBRARY}"
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}")
endif()
mark_as_advanced(ONNXRuntime_INCLUDE_DIR ONNXRuntime_LIBRARY)
