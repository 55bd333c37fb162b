/* placeholder so the library is never empty; removed when the engine lands */
int place_stub_unused;
