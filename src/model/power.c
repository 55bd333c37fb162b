#include "model/power.h"

#include <string.h>

const yun_power_model YUN_POWER_HP_ML110_G4 = {{86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117}, 0};
const yun_power_model YUN_POWER_HP_ML110_G5 = {{93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135}, 0};

double power_watts(const yun_power_model *m, double u)
{
    if (u <= 0)
        return m->watts[0];
    if (u >= 1)
        return m->watts[10];
    /* CloudSim's PowerModelSpecPower interpolates the same way: floor and ceil of u * 10 */
    double x = u * 10;
    int lo = (int)x;
    double frac = x - lo;
    return m->watts[lo] + (m->watts[lo + 1] - m->watts[lo]) * frac;
}

const yun_power_model *power_model_by_name(const char *name)
{
    if (name && !strcmp(name, "hp-ml110-g4"))
        return &YUN_POWER_HP_ML110_G4;
    if (name && !strcmp(name, "hp-ml110-g5"))
        return &YUN_POWER_HP_ML110_G5;
    return NULL;
}
