/* ctl_image.c: images as the store knows them (ctl.h). Their files are the API's: it converts uploads and
 * builds the starter, then records or forgets the image here. */
#include "ctl/ctl.h"
#include "ctl/ctl_int.h"

int ctl_image_create(ctl_ctx *c, yun_store *s, yun_image *img, yun_err *err)
{
    (void)c;
    return store_image_create(s, img, err);
}

int ctl_image_delete(ctl_ctx *c, yun_store *s, int64_t id, yun_err *err)
{
    (void)c;
    return store_image_delete(s, id, err);
}

int ctl_image_replace(ctl_ctx *c, yun_store *s, int64_t old_id, yun_image *img, yun_err *err)
{
    (void)c;
    int r = store_begin(s, err);
    if (r == 0 && old_id > 0)
        r = store_image_delete(s, old_id, err);
    return ctl_tx_end(s, r == 0 ? store_image_create(s, img, err) : r, err);
}
