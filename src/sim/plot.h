/* plot.h: PNG charts of simulator runs, drawn by gnuplot (the program, run as a child process):
 * active hosts over time, total power over time, and a host x time utilisation heat map. With a second
 * run, each chart shows both: the lines on the same axes, the heat maps side by side. */
#ifndef YUN_SIM_PLOT_H
#define YUN_SIM_PLOT_H

#include "sim/sim.h"
#include "util/err.h"

/* Writes dir/active_hosts.png, dir/power.png, dir/heatmap.png and the data and script behind them
 * (the .dat files and plot.gp, so a chart can be redrawn or restyled). dir is created if missing. b may be
 * NULL. Runs must have been made with series on. Fails with YUN_E_IO when dir cannot be written or
 * gnuplot fails or is missing (the message says to install gnuplot). */
int sim_plot(const char *dir, const sim_result *a, const char *name_a, const sim_result *b, const char *name_b,
             yun_err *err);

#endif
