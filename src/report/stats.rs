//! The statistics of the variants table: a 95% Wilson score interval for a rate, and Pearson's
//! chi-square test of a 2×2 table with Yates' continuity correction — what
//! `scipy.stats.chi2_contingency` computes by default, which the tests compare against.

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `successes` out of `n`; `None` when `n` is 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (n, p, z2) = (n as f64, successes as f64 / n as f64, Z95 * Z95);
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// A chi-square test's statistic and p-value.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ChiSquare {
    pub statistic: f64,
    pub p: f64,
}

/// Pearson's chi-square test of independence of a 2×2 table (rows: this variant, the rest;
/// columns: converted, not), with Yates' correction. `None` when a row or column is empty.
pub fn chi_square_2x2(table: [[u64; 2]; 2]) -> Option<ChiSquare> {
    let rows = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
    let cols = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
    let total = (rows[0] + rows[1]) as f64;
    if rows.contains(&0) || cols.contains(&0) {
        return None;
    }
    let mut statistic = 0.0;
    for (r, row) in table.iter().enumerate() {
        for (c, &observed) in row.iter().enumerate() {
            let expected = rows[r] as f64 * cols[c] as f64 / total;
            let diff = observed as f64 - expected;
            // Yates: each cell moves half a count towards its expectation, never past it.
            let corrected = diff.abs() - diff.abs().min(0.5);
            statistic += corrected * corrected / expected;
        }
    }
    Some(ChiSquare { statistic, p: chi2_sf(statistic, 1.0) })
}

/// The smallest expected count of the 2×2 table (the chi-square test wants 5 or more).
pub fn min_expected(table: [[u64; 2]; 2]) -> f64 {
    let rows = [table[0][0] + table[0][1], table[1][0] + table[1][1]];
    let cols = [table[0][0] + table[1][0], table[0][1] + table[1][1]];
    let total = (rows[0] + rows[1]) as f64;
    if total == 0.0 {
        return 0.0;
    }
    rows.iter().flat_map(|&r| cols.iter().map(move |&c| r as f64 * c as f64 / total)).fold(f64::INFINITY, f64::min)
}

/// The chi-square distribution's survival function: P(X > x) with `dof` degrees of freedom.
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(dof / 2.0, x / 2.0)
}

/// The upper regularised incomplete gamma function Q(a, x): a series below `a + 1`, a
/// continued fraction above (Numerical Recipes, 6.2).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x < a + 1.0 { 1.0 - gamma_p_series(a, x) } else { gamma_q_fraction(a, x) }
}

fn gamma_p_series(a: f64, x: f64) -> f64 {
    let (mut term, mut sum, mut n) = (1.0 / a, 1.0 / a, a);
    for _ in 0..1000 {
        n += 1.0;
        term *= x / n;
        sum += term;
        if term.abs() < sum.abs() * 1e-16 {
            break;
        }
    }
    sum * (-x + a * x.ln() - ln_gamma(a)).exp()
}

fn gamma_q_fraction(a: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..1000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a)).exp() * h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        sum += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1e-300)
    }

    #[test]
    fn the_chi_square_tail_matches_known_values() {
        // scipy.stats.chi2.sf(x, dof)
        for (x, dof, p) in [
            (3.841_458_820_694_124, 1.0, 0.05),
            (6.634_896_601_021_214, 1.0, 0.01),
            (0.5, 1.0, 0.479_500_122_186_953_5),
            (10.0, 3.0, 0.018_566_135_463_043_25),
            (100.0, 1.0, 1.523_970_604_832_099_5e-23),
        ] {
            assert!(close(chi2_sf(x, dof), p, 1e-9), "chi2.sf({x}, {dof}) = {} not {p}", chi2_sf(x, dof));
        }
    }

    #[test]
    fn wilson_interval_matches_the_formula_s_known_values() {
        // statsmodels.stats.proportion.proportion_confint(12, 100, method="wilson")
        let (lo, hi) = wilson(12, 100).unwrap();
        assert!(close(lo, 0.069_994_064_370_194_88, 1e-9) && close(hi, 0.198_120_994_267_114_21, 1e-9), "{lo} {hi}");
        assert_eq!(wilson(0, 0), None);
        let (lo, hi) = wilson(0, 10).unwrap();
        assert!(lo == 0.0 && hi > 0.2 && hi < 0.3, "{lo} {hi}");
    }

    #[test]
    fn an_empty_row_or_column_has_no_test() {
        assert_eq!(chi_square_2x2([[0, 10], [0, 20]]), None);
        assert_eq!(chi_square_2x2([[0, 0], [5, 20]]), None);
    }
}
