/* trace.h: CPU utilisation traces in the PlanetLab format of CloudSim's experiments: a folder with one
 * file per VM, one CPU utilisation in percent (0..100) per line, one line per sampling interval
 * (5 minutes in the PlanetLab data). Files are read in name order, so a run is reproducible. */
#ifndef YUN_SIM_TRACE_H
#define YUN_SIM_TRACE_H

#include "util/err.h"

typedef struct sim_trace {
    int nvms;
    int nsamples; /* lines per file; every file has the same number */
    char **names; /* file names, nvms of them */
    double *util; /* nvms x nsamples utilisation fractions (percent / 100), row per VM */
} sim_trace;

/* Loads every regular file of dir (hidden files skipped). Fails with YUN_E_INVALID naming the file and
 * line of the first bad value (not a number, below 0 or above 100), an empty file, or a file whose
 * line count differs from the others; YUN_E_IO when dir cannot be read or holds no file. */
sim_trace *sim_trace_load(const char *dir, yun_err *err);
void sim_trace_free(sim_trace *t);

/* Utilisation of VM v at time t seconds, samples every interval seconds, linearly interpolated as
 * CloudSim's UtilizationModelPlanetLabInMemory does; past the last sample it stays at the last. */
double sim_trace_at(const sim_trace *t, int v, double time, double interval);

#endif
