// label/page.h — the embedded labelling page (page.c): served at /, /app.css and /app.js.
#ifndef RLHF_LABEL_PAGE_H
#define RLHF_LABEL_PAGE_H

extern const char *const LABEL_PAGE_HTML;
extern const char *const LABEL_PAGE_CSS;
extern const char *const LABEL_PAGE_JS;

#endif
