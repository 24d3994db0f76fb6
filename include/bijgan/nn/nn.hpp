// The nn area: module machinery, initialisers, layers, normalisation, attention, transformer
// blocks and composition.
#pragma once

#include "bijgan/nn/attention.hpp"
#include "bijgan/nn/chain.hpp"
#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/init.hpp"
#include "bijgan/nn/layers.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/norm.hpp"
#include "bijgan/nn/resnet.hpp"
#include "bijgan/nn/transformer.hpp"
