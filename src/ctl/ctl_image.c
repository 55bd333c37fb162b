/* ctl_image.c: images as the store knows them (ctl.h). Their files are the API's: it converts uploads and
 * builds the starter, then records or forgets the image here. */
#include "ctl/ctl.h"

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
    if (store_begin(s, err) < 0)
        return -1;
    if ((old_id > 0 && store_image_delete(s, old_id, err) < 0) || store_image_create(s, img, err) < 0 ||
        store_commit(s, err) < 0) {
        store_rollback(s);
        return -1;
    }
    return 0;
}
