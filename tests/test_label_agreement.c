// tests/test_label_agreement.c — Cohen's κ and Krippendorff's α (label/agreement.c) against values
// computed by hand from their definitions, and the undefined cases.
#include <math.h>

#include "check.h"
#include "label/agreement.h"

int main(void) {
    int ok;
    // two raters, 4 units: x x y y / x y y y. p_o = 3/4, p_e = .5·.25 + .5·.75 = .5 → κ = .5
    int a[] = {0, 0, 1, 1}, b[] = {0, 1, 1, 1};
    double k = agreement_kappa(a, b, 4, &ok);
    CHECK(ok && fabs(k - 0.5) < 1e-12, "kappa %g", k);
    // perfect agreement with two categories: κ = 1; both constant and equal: p_e = 1, undefined
    k = agreement_kappa(a, a, 4, &ok);
    CHECK(ok && fabs(k - 1.0) < 1e-12, "kappa %g", k);
    int c[] = {2, 2, 2};
    agreement_kappa(c, c, 3, &ok);
    CHECK(!ok, "kappa with p_e = 1 is undefined");
    agreement_kappa(a, b, 0, &ok);
    CHECK(!ok, "kappa of nothing is undefined");
    // systematic disagreement: x y / y x → p_o = 0, p_e = .5 → κ = −1
    int d[] = {0, 1}, f[] = {1, 0};
    k = agreement_kappa(d, f, 2, &ok);
    CHECK(ok && fabs(k + 1.0) < 1e-12, "kappa %g", k);

    // α on the same data (units × 2 raters): coincidences o_xx = 2, o_xy = o_yx = 1, o_yy = 4;
    // n_x = 3, n_y = 5, n = 8; α = 1 − (n−1)·D_o / Σ_{c≠k} n_c n_k = 1 − 7·2 / 30 = 8/15
    int codes[] = {0, 0, 0, 1, 1, 1, 1, 1};
    double al = agreement_alpha(codes, 4, 2, 2, &ok);
    CHECK(ok && fabs(al - 8.0 / 15.0) < 1e-12, "alpha %g", al);
    // missing values: a third rater on unit 0 only (x) and a fifth unit with one value (not
    // pairable): unit 0 = x x x (m = 3) gives o_xx = 3·2/2 = 3; o_xy = o_yx = 1; o_yy = 4;
    // n_x = 4, n_y = 5, n = 9, D_o = 2, Σ n_c n_k = 2·4·5 = 40 → α = 1 − 8·2 / 40 = 0.6
    int codes3[] = {0, 0, 0, 0, 1, -1, 1, 1, -1, 1, 1, -1, 1, -1, -1};
    al = agreement_alpha(codes3, 5, 3, 2, &ok);
    CHECK(ok && fabs(al - 0.6) < 1e-12, "alpha %g", al);
    // one category only: undefined
    int same[] = {0, 0, 0, 0};
    agreement_alpha(same, 2, 2, 1, &ok);
    CHECK(!ok, "alpha with one category is undefined");
    return check_summary("test_label_agreement");
}
