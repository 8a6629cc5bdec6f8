# cmake/ens_ldconfig.cmake - the last step of `cmake --install` (and so of
# `make install`). Runs in the install script, where CMAKE_INSTALL_PREFIX is
# the prefix being installed to; ENS_LDCONFIG_LIBDIR is CMAKE_INSTALL_LIBDIR.
#
# The loader finds libensemble.so.0 in a directory it searches (ld.so.conf,
# the built-in ones) only through its cache, which ldconfig rebuilds. So:
#   - into such a directory, as root, without DESTDIR: run ldconfig;
#   - the same as another user: say that ldconfig is needed;
#   - into any other directory: say what a program built against it needs;
#   - with DESTDIR (a staging tree for a package): nothing; the package's
#     own scripts run ldconfig where it is finally installed.

if(IS_ABSOLUTE "${ENS_LDCONFIG_LIBDIR}")
  set(ens_libdir "${ENS_LDCONFIG_LIBDIR}")
else()
  set(ens_libdir "${CMAKE_INSTALL_PREFIX}/${ENS_LDCONFIG_LIBDIR}")
endif()
cmake_path(NORMAL_PATH ens_libdir)

if(NOT "$ENV{DESTDIR}" STREQUAL "")
  return()
endif()

find_program(ENS_LDCONFIG ldconfig PATHS /sbin /usr/sbin NO_CACHE)
if(NOT ENS_LDCONFIG)
  message(STATUS "ldconfig not found: not refreshing the loader's cache for ${ens_libdir}")
  return()
endif()

# `ldconfig -v -N -X` lists the directories ldconfig would scan (one
# "DIR: (from ...)" line each, their libraries indented below) without
# touching the cache or the links. Directories are compared by real path:
# with a merged /usr, /lib/x86_64-linux-gnu is /usr/lib/x86_64-linux-gnu.
execute_process(COMMAND "${ENS_LDCONFIG}" -v -N -X OUTPUT_VARIABLE ens_scan ERROR_QUIET
                RESULT_VARIABLE ens_scan_rc)
file(REAL_PATH "${ens_libdir}" ens_libdir_real)
set(ens_searched FALSE)
if(ens_scan_rc EQUAL 0)
  string(REGEX MATCHALL "(^|\n)/[^:\n]*:" ens_dirs "${ens_scan}")
  foreach(dir IN LISTS ens_dirs)
    string(REGEX REPLACE "^\n?(.*):$" "\\1" dir "${dir}")
    file(REAL_PATH "${dir}" dir_real)
    if(dir_real STREQUAL ens_libdir_real)
      set(ens_searched TRUE)
      break()
    endif()
  endforeach()
endif()

if(NOT ens_searched)
  message(STATUS "${ens_libdir} is not a directory the dynamic loader searches: a program "
                 "built against this prefix needs -Wl,-rpath,${ens_libdir} (or LD_LIBRARY_PATH) "
                 "to find libensemble.so.0; the installed programs find it by themselves")
  return()
endif()

execute_process(COMMAND id -u OUTPUT_VARIABLE ens_uid OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT ens_uid STREQUAL "0")
  message(STATUS "${ens_libdir} is searched by the dynamic loader: run ldconfig as root so "
                 "that programs find libensemble.so.0")
  return()
endif()

message(STATUS "Running ${ENS_LDCONFIG} (${ens_libdir} is searched by the dynamic loader)")
execute_process(COMMAND "${ENS_LDCONFIG}" RESULT_VARIABLE ens_ldconfig_rc)
if(NOT ens_ldconfig_rc EQUAL 0)
  message(WARNING "ldconfig failed (${ens_ldconfig_rc}): programs may not find libensemble.so.0 "
                  "until it is run")
endif()
