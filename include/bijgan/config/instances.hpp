// Explicit instantiations of the library's host templates (issue 22 §4): header-only use stays
// the default; a consumer that links bijgan::precompiled gets BIJGAN_PRECOMPILED defined, and the
// lists each header ends with then become explicit instantiation declarations, so its translation
// units neither instantiate nor optimise those functions: the compiled library provides them.
//
// A list is a function-like macro L(X, T, B) whose every line is `X <declaration>;`. It is
// declared for each (T, B) in BIJGAN_PRECOMPILED_TYPES by BIJGAN_EXTERN_INSTANCES(L), and defined
// by the library's source with BIJGAN_DEFINE_INSTANCES(L) (the definition follows the
// declaration in the same unit, which [temp.explicit] allows). A list names what is worth compiling
// once: non-inline function templates (ops with their kernels and backward rules) and class
// templates whose members are (tensor, var, modules, optimizers); GCC neither instantiates nor
// optimises what a declaration names, except inline members it chooses to inline.
#pragma once

/// The (value type, backend) pairs bijgan::precompiled provides.
#define BIJGAN_PRECOMPILED_TYPES(L, X) \
  L(X, float, ::bijgan::host)          \
  L(X, double, ::bijgan::host)

#if defined(BIJGAN_PRECOMPILED) && !defined(__CUDACC__)
#define BIJGAN_EXTERN_INSTANCES(L) BIJGAN_PRECOMPILED_TYPES(L, extern template)
#else
#define BIJGAN_EXTERN_INSTANCES(L)
#endif

/// Used once per list by the compiled library's sources (src/precompiled/).
#define BIJGAN_DEFINE_INSTANCES(L) BIJGAN_PRECOMPILED_TYPES(L, template)
