#ifndef PLMM_LEDGER_H
#define PLMM_LEDGER_H
#include "plmm/types.h"
#endif
