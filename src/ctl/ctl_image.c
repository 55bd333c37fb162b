/* ctl_image.c: images as the store knows them (ctl.h). Their files are the API's: it converts uploads and
 * builds the starter, then records or forgets the image here. */
#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "util/mem.h"

/* Every answer to an agent lists the images: a change moves every host's version (ctl_answer_again). */
static int images_changed(ctl_ctx *c, int rc)
{
    if (rc == 0 && c)
        ctl_vms_changed(c);
    return rc;
}

int ctl_image_create(ctl_ctx *c, yun_store *s, yun_image *img, yun_err *err)
{
    return images_changed(c, store_image_create(s, img, err));
}

int ctl_image_delete(ctl_ctx *c, yun_store *s, int64_t id, yun_err *err)
{
    return images_changed(c, store_image_delete(s, id, err));
}

int ctl_image_replace(ctl_ctx *c, yun_store *s, int64_t old_id, yun_image *img, yun_err *err)
{
    int r = store_begin(s, err);
    if (r == 0 && old_id > 0)
        r = store_image_delete(s, old_id, err);
    return images_changed(c, ctl_tx_end(s, r == 0 ? store_image_create(s, img, err) : r, err));
}

int ctl_image_newest(yun_store *s, const char *base, yun_image *out, size_t *versions, yun_err *err)
{
    AUTOFREE yun_image *imgs = NULL;
    size_t n = 0;
    if (store_image_list(s, &imgs, &n, err) < 0)
        return -1;
    int64_t best = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k = model_image_version_of(imgs[i].name, base);
        count += k > 0;
        if (k > best) {
            best = k;
            *out = imgs[i];
        }
    }
    if (versions)
        *versions = count;
    if (!best)
        return yun_err_set(err, YUN_E_NOT_FOUND, "image %s not found: `yun image list` shows the images", base);
    return 0;
}
