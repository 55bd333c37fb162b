#include "sim/plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/mem.h"

static int write_series(const char *dir, const char *tag, const sim_result *r, yun_err *err)
{
    AUTOFREE char *path = xasprintf("%s/series_%s.dat", dir, tag);
    FILE *f = fopen(path, "w");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot write %s", path);
    fprintf(f, "# hours active_hosts watts\n");
    for (int i = 0; i < r->series.n; i++)
        fprintf(f, "%.4f %d %.1f\n", r->series.t[i] / 3600, r->series.active[i], r->series.watts[i]);
    fclose(f);
    free(path);
    path = xasprintf("%s/heat_%s.dat", dir, tag);
    f = fopen(path, "w");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot write %s", path);
    /* gnuplot's "matrix" layout: one row per host, one column per step */
    for (int h = 0; h < r->series.nhosts; h++) {
        for (int i = 0; i < r->series.n; i++)
            fprintf(f, i ? " %.3f" : "%.3f", (double)r->series.util[(size_t)i * (size_t)r->series.nhosts + (size_t)h]);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot write %s", path);
    return 0;
}

int sim_plot(const char *dir, const sim_result *a, const char *name_a, const sim_result *b, const char *name_b,
             yun_err *err)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot create %s", dir);
    if (write_series(dir, "a", a, err) < 0 || (b && write_series(dir, "b", b, err) < 0))
        return -1;
    AUTOFREE char *gp = xasprintf("%s/plot.gp", dir);
    FILE *f = fopen(gp, "w");
    if (!f)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot write %s", gp);
    double step_h = a->series.n > 1 ? (a->series.t[1] - a->series.t[0]) / 3600 : 1;
    double t0_h = a->series.n > 0 ? a->series.t[0] / 3600 : 0;
    fprintf(f, "# yun-sim charts; run `gnuplot plot.gp` in this folder to redraw\n"
               "set terminal pngcairo size 1000,500 noenhanced\n"
               "set grid\nset key top right\nset xlabel 'hours'\n"
               "set xrange [0:24]\n");
    fprintf(f,
            "set output 'active_hosts.png'\nset title 'Active hosts'\nset ylabel 'hosts'\n"
            "plot 'series_a.dat' using 1:2 with lines lw 2 title '%s'",
            name_a);
    if (b)
        fprintf(f, ", 'series_b.dat' using 1:2 with lines lw 2 title '%s'", name_b);
    fprintf(f,
            "\nset output 'power.png'\nset title 'Total power'\nset ylabel 'kW'\n"
            "plot 'series_a.dat' using 1:($3/1000) with lines lw 2 title '%s'",
            name_a);
    if (b)
        fprintf(f, ", 'series_b.dat' using 1:($3/1000) with lines lw 2 title '%s'", name_b);
    fprintf(f,
            "\nunset grid\nset output 'heatmap.png'\nset terminal pngcairo size %d,600 noenhanced\n"
            "set palette defined (0 'white', 0.01 '#dbe9f6', 0.5 '#2c7fb8', 0.9 '#f03b20', 1 '#800000')\n"
            "set cbrange [0:1]\nset cblabel 'CPU utilisation'\nset ylabel 'host'\nset autoscale yfix\n",
            b ? 1600 : 1000);
    if (b)
        fprintf(f, "set multiplot layout 1,2\n");
    fprintf(f, "set title 'Host utilisation: %s'\nplot 'heat_a.dat' matrix using ($1*%g+%g):2:3 with image notitle\n",
            name_a, step_h, t0_h);
    if (b)
        fprintf(f,
                "set title 'Host utilisation: %s'\nplot 'heat_b.dat' matrix using ($1*%g+%g):2:3 with image notitle\n"
                "unset multiplot\n",
                name_b, step_h, t0_h);
    if (fclose(f) != 0)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: cannot write %s", gp);
    pid_t pid = fork();
    if (pid < 0)
        return yun_err_sys(err, YUN_E_IO, errno, "plot: fork");
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", "plot.gp", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return yun_err_sys(err, YUN_E_IO, errno, "plot: waiting for gnuplot");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return yun_err_set(err, YUN_E_IO, "plot: gnuplot not found; install it (Debian: apt-get install gnuplot-nox)");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return yun_err_set(err, YUN_E_IO, "plot: gnuplot failed on %s (exit %d); the data files are there to inspect",
                           gp, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return 0;
}
