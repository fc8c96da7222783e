# Install rules: the sernn libraries as the CMake package `sernn` with targets sernn::core,
# sernn::models, sernn::regularizers, sernn::tasks, sernn::analysis and sernn::run (plus the
# `sernn` program), so another CMake project can write
#     find_package(sernn REQUIRED)
#     target_link_libraries(my_app PRIVATE sernn::run)
# (docs/example/ does; tests/install/ builds it against an installed sernn). Headers go to
# include/sernn/<folder>/ and are included as in the source tree ("run/setup.h").
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_sernn_libs sernn_torch sernn_core sernn_models sernn_regularizers sernn_tasks sernn_analysis sernn_run)
if(TARGET sernn_cuda_kernels)
  list(APPEND _sernn_libs sernn_cuda_kernels)
endif()
foreach(_lib IN LISTS _sernn_libs)
  string(REPLACE "sernn_" "" _name "${_lib}")
  set_target_properties(${_lib} PROPERTIES EXPORT_NAME ${_name})
endforeach()

install(TARGETS ${_sernn_libs} EXPORT sernnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sernn)
install(TARGETS sernn RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(_dir core models regularizers tasks analysis run)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sernn/${_dir}
    FILES_MATCHING PATTERN "*.h")
endforeach()

install(EXPORT sernnTargets NAMESPACE sernn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sernn)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sernnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sernnConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sernn)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sernnConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sernnConfig.cmake ${PROJECT_BINARY_DIR}/sernnConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sernn)
