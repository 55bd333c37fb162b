/* place_run.c: place_run (place.h), the one entry to every algorithm: it checks the input, then hands it to
 * the first-fit family and PABFD (place.c) or the shares family and yun's own (place_shares.c). Apart from
 * both, so neither calls the other's dispatcher. */
#include "place/place.h"
#include "place/place_internal.h"

int place_run(place_algo algo, const place_host *hosts, int n_hosts, const place_vm *vms, int n_vms,
              const place_opts *opts, place_plan *plan, yun_err *err)
{
    place_opts none = {0};
    if (!opts)
        opts = &none;
    if (algo < 0 || algo >= PLACE_NALGOS)
        return yun_err_set(err, YUN_E_INVALID, "unknown placement algorithm %d", (int)algo);
    if (place_validate(hosts, n_hosts, vms, n_vms, err) < 0)
        return -1;
    place_plan_init(plan, n_vms);
    switch (algo) {
    case PLACE_PABFD:
        place_pabfd_run(hosts, n_hosts, vms, n_vms, plan);
        break;
    case PLACE_BS:
    case PLACE_GM:
    case PLACE_GMM:
    case PLACE_EMM:
    case PLACE_PEMM:
    case PLACE_YUN:
        place_shares_run(algo, hosts, n_hosts, vms, n_vms, opts, plan);
        break;
    default:
        place_pack_run(algo, hosts, n_hosts, vms, n_vms, opts, plan);
        break;
    }
    place_plan_finish(plan, vms, n_hosts, opts->power_cost);
    return 0;
}
