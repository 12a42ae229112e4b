# Project-local autoconf helpers for protocol_tls.

# PTLS_CHECK_CFLAG(FLAG): append FLAG to CFLAGS when the compiler accepts it.
AC_DEFUN([PTLS_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  ptls_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS $1 -Werror"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); CFLAGS="$ptls_save_CFLAGS $1"],
    [AC_MSG_RESULT([no]); CFLAGS="$ptls_save_CFLAGS"])
])

# AX_PTHREAD_SIMPLE: require POSIX threads (-pthread) and export PTHREAD_LIBS.
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  ptls_save_LIBS="$LIBS"
  LIBS="$LIBS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]], [[pthread_mutex_t m; pthread_mutex_init(&m, 0);]])],
    [PTHREAD_LIBS="-pthread"], [AC_MSG_ERROR([POSIX threads not available: apt-get install libc6-dev])])
  LIBS="$ptls_save_LIBS"
  AC_SUBST([PTHREAD_LIBS])
])
