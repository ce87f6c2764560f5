// label/agreement.h — inter-annotator agreement on nominal labels: Cohen's κ for two annotators
// and Krippendorff's α (nominal metric, any number of annotators, missing values allowed).
#ifndef RLHF_LABEL_AGREEMENT_H
#define RLHF_LABEL_AGREEMENT_H

// a[i], b[i]: the two annotators' category codes (≥ 0) on the same n units.
// κ = (p_o − p_e) / (1 − p_e); *ok = 0 when undefined (n = 0 or p_e = 1).
double agreement_kappa(const int *a, const int *b, int n, int *ok);
// codes[u * n_raters + r]: code of rater r on unit u (0..n_cats−1), −1 when missing. Units with
// fewer than two codes are not pairable and left out. α = 1 − (n·−1)·D_o / D_e over the
// coincidence matrix; *ok = 0 when undefined (fewer than two pairable values, or one category).
double agreement_alpha(const int *codes, int n_units, int n_raters, int n_cats, int *ok);

#endif
