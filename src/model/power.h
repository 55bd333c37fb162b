/* power.h: a host's power model, SPECpower style: watts measured at 0%, 10%, ..., 100% CPU,
 * linearly interpolated between; a sleeping host draws sleep_watts (about 0). */
#ifndef YUN_MODEL_POWER_H
#define YUN_MODEL_POWER_H

typedef struct yun_power_model {
    double watts[11];   /* at 0, 10, ..., 100 % utilisation */
    double sleep_watts;
} yun_power_model;

/* The two servers of CloudSim's PlanetLab experiment. */
extern const yun_power_model YUN_POWER_HP_ML110_G4;
extern const yun_power_model YUN_POWER_HP_ML110_G5;

/* The model the setting metrics.power_model names ("hp-ml110-g4", "hp-ml110-g5"); NULL for "none" or
 * anything else. */
const yun_power_model *power_model_by_name(const char *name);

/* Watts at utilisation u in [0, 1] (clamped). */
double power_watts(const yun_power_model *m, double u);

#endif
