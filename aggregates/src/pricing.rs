//! Money arithmetic of quotes and invoices: line totals, Canadian sales tax
//! by province and date, and totals. Pure and deterministic; every rounding
//! is half-up (away from zero) to the cent.
//!
//! ```
//! use aggregates::pricing::{line_total, tax_lines};
//! use chrono::NaiveDate;
//! use event_schemas::money::{Province, TaxCode};
//! use rust_decimal_macros::dec;
//! assert_eq!(line_total(dec!(3), dec!(33.335)), dec!(100.01));
//! let d = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
//! let ns = tax_lines(dec!(100.00), Province::Ns, d, false).unwrap();
//! assert_eq!((ns[0].code, ns[0].amount), (TaxCode::Hst, dec!(15.00)));
//! let d = NaiveDate::from_ymd_opt(2025, 4, 1).unwrap();
//! assert_eq!(tax_lines(dec!(100.00), Province::Ns, d, false).unwrap()[0].amount, dec!(14.00));
//! ```

use chrono::NaiveDate;
use event_schemas::money::{HourlyPricing, LineItem, Province, TaxCode, TaxLine, Totals};
use rust_decimal::{Decimal, RoundingStrategy};

/// Rounds half-up (away from zero) to the cent.
pub fn round_money(value: Decimal) -> Decimal {
    let mut v = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    v.rescale(2);
    v
}

/// round(quantity × unit price, 2), half-up.
pub fn line_total(quantity: Decimal, unit_price: Decimal) -> Decimal {
    round_money(quantity * unit_price)
}

/// Labour of hourly pricing: round(rate × max(estimated, minimum), 2).
pub fn hourly(rate: Decimal, estimated_hours: Decimal, minimum_hours: Decimal) -> HourlyPricing {
    HourlyPricing {
        rate,
        estimated_hours,
        minimum_hours,
        labour_total: round_money(rate * estimated_hours.max(minimum_hours)),
    }
}

/// One row of the rate table: from `from` (inclusive) the province charges
/// these components.
struct RateRow {
    province: Province,
    from: (i32, u32, u32),
    components: &'static [(TaxCode, Decimal)],
}

const fn pct(units: i64, scale: u32) -> Decimal {
    Decimal::from_parts(units as u32, 0, 0, false, scale)
}

/// The first date the table covers.
pub const EARLIEST_TAX_DATE: (i32, u32, u32) = (2019, 7, 1);

/// The effective-dated rate table. A row applies from its date until the
/// next row of the same province.
static RATES: &[RateRow] = &[
    RateRow {
        province: Province::On,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Hst, pct(13, 2))],
    },
    RateRow {
        province: Province::Ns,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Hst, pct(15, 2))],
    },
    RateRow {
        province: Province::Ns,
        from: (2025, 4, 1),
        components: &[(TaxCode::Hst, pct(14, 2))],
    },
    RateRow {
        province: Province::Nb,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Hst, pct(15, 2))],
    },
    RateRow {
        province: Province::Nl,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Hst, pct(15, 2))],
    },
    RateRow {
        province: Province::Pe,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Hst, pct(15, 2))],
    },
    RateRow {
        province: Province::Ab,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2))],
    },
    RateRow {
        province: Province::Nt,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2))],
    },
    RateRow {
        province: Province::Nu,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2))],
    },
    RateRow {
        province: Province::Yt,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2))],
    },
    RateRow {
        province: Province::Bc,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2)), (TaxCode::Pst, pct(7, 2))],
    },
    RateRow {
        province: Province::Mb,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2)), (TaxCode::Rst, pct(7, 2))],
    },
    RateRow {
        province: Province::Sk,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2)), (TaxCode::Pst, pct(6, 2))],
    },
    RateRow {
        province: Province::Qc,
        from: EARLIEST_TAX_DATE,
        components: &[(TaxCode::Gst, pct(5, 2)), (TaxCode::Qst, pct(9975, 5))],
    },
];

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid table date")
}

/// The components `province` charges on `on`, or an error before the table starts.
pub fn rates(province: Province, on: NaiveDate) -> Result<Vec<(TaxCode, Decimal)>, String> {
    RATES
        .iter()
        .filter(|r| r.province == province && date(r.from) <= on)
        .max_by_key(|r| date(r.from))
        .map(|r| r.components.to_vec())
        .ok_or_else(|| format!("no tax rates are known before {}", date(EARLIEST_TAX_DATE)))
}

/// Each tax component on `taxable`, rounded per component. Tax-exempt: none.
pub fn tax_lines(
    taxable: Decimal,
    province: Province,
    on: NaiveDate,
    exempt: bool,
) -> Result<Vec<TaxLine>, String> {
    if exempt {
        return Ok(vec![]);
    }
    Ok(rates(province, on)?
        .into_iter()
        .map(|(code, rate)| TaxLine {
            code,
            rate,
            taxable,
            amount: round_money(taxable * rate),
        })
        .collect())
}

/// Totals of `items` that count (required ones and the `selected` optional
/// ones), plus hourly labour, with taxes at `tax_date`.
pub fn totals(
    items: &[LineItem],
    selected: &[uuid::Uuid],
    hourly: Option<&HourlyPricing>,
    province: Province,
    tax_date: NaiveDate,
    exempt: bool,
) -> Result<Totals, String> {
    let items_total: Decimal = items
        .iter()
        .filter(|i| !i.optional || selected.contains(&i.item_id))
        .map(|i| i.line_total)
        .sum();
    let subtotal = round_money(items_total + hourly.map_or(Decimal::ZERO, |h| h.labour_total));
    let tax_lines = tax_lines(subtotal, province, tax_date, exempt)?;
    let tax_total = round_money(tax_lines.iter().map(|t| t.amount).sum());
    Ok(Totals {
        subtotal,
        total: round_money(subtotal + tax_total),
        tax_total,
        tax_lines,
        tax_date: Some(tax_date),
    })
}

/// Splits a tax-inclusive `amount` into (pre-tax, tax) in the proportion of
/// `totals`; the pre-tax part is rounded half-up, the tax part is the rest.
pub fn split_gross(amount: Decimal, totals: &Totals) -> (Decimal, Decimal) {
    if totals.total.is_zero() || totals.tax_total.is_zero() {
        return (round_money(amount), Decimal::ZERO.round_dp(2));
    }
    let pre_tax = round_money(amount * totals.subtotal / totals.total);
    (pre_tax, round_money(amount - pre_tax))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn every_province_has_its_published_rates() {
        let on = d(2026, 1, 15);
        let expect: &[(Province, &[(TaxCode, Decimal)])] = &[
            (Province::On, &[(TaxCode::Hst, dec!(0.13))]),
            (Province::Ns, &[(TaxCode::Hst, dec!(0.14))]),
            (Province::Nb, &[(TaxCode::Hst, dec!(0.15))]),
            (Province::Nl, &[(TaxCode::Hst, dec!(0.15))]),
            (Province::Pe, &[(TaxCode::Hst, dec!(0.15))]),
            (Province::Ab, &[(TaxCode::Gst, dec!(0.05))]),
            (Province::Nt, &[(TaxCode::Gst, dec!(0.05))]),
            (Province::Nu, &[(TaxCode::Gst, dec!(0.05))]),
            (Province::Yt, &[(TaxCode::Gst, dec!(0.05))]),
            (
                Province::Bc,
                &[(TaxCode::Gst, dec!(0.05)), (TaxCode::Pst, dec!(0.07))],
            ),
            (
                Province::Mb,
                &[(TaxCode::Gst, dec!(0.05)), (TaxCode::Rst, dec!(0.07))],
            ),
            (
                Province::Sk,
                &[(TaxCode::Gst, dec!(0.05)), (TaxCode::Pst, dec!(0.06))],
            ),
            (
                Province::Qc,
                &[(TaxCode::Gst, dec!(0.05)), (TaxCode::Qst, dec!(0.09975))],
            ),
        ];
        assert_eq!(expect.len(), Province::ALL.len());
        for (province, components) in expect {
            assert_eq!(&rates(*province, on).unwrap(), components, "{province}");
        }
    }

    #[test]
    fn nova_scotia_changes_on_april_first_2025() {
        assert_eq!(
            rates(Province::Ns, d(2025, 3, 31)).unwrap()[0].1,
            dec!(0.15)
        );
        assert_eq!(rates(Province::Ns, d(2025, 4, 1)).unwrap()[0].1, dec!(0.14));
        assert!(rates(Province::Ns, d(2019, 6, 30)).is_err());
    }

    #[test]
    fn quebec_components_are_rounded_separately_half_up() {
        // 0.10 × 5% = 0.005 → 0.01; 0.10 × 9.975% = 0.009975 → 0.01
        let lines = tax_lines(dec!(0.10), Province::Qc, d(2026, 1, 1), false).unwrap();
        assert_eq!(lines[0].amount, dec!(0.01));
        assert_eq!(lines[1].amount, dec!(0.01));
        let lines = tax_lines(dec!(1234.56), Province::Qc, d(2026, 1, 1), false).unwrap();
        assert_eq!(lines[0].amount, dec!(61.73)); // 61.728
        assert_eq!(lines[1].amount, dec!(123.15)); // 123.147…
        assert!(
            tax_lines(dec!(100), Province::Qc, d(2026, 1, 1), true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn line_totals_round_half_up() {
        assert_eq!(line_total(dec!(1), dec!(0.005)), dec!(0.01));
        assert_eq!(line_total(dec!(2.5), dec!(10.01)), dec!(25.03)); // 25.025
        assert_eq!(line_total(dec!(3), dec!(19.99)), dec!(59.97));
        assert_eq!(
            hourly(dec!(150), dec!(2), dec!(3)).labour_total,
            dec!(450.00)
        );
        assert_eq!(
            hourly(dec!(150), dec!(4.5), dec!(3)).labour_total,
            dec!(675.00)
        );
    }

    #[test]
    fn gross_amounts_split_in_the_invoice_proportion() {
        let t = Totals {
            subtotal: dec!(100.00),
            tax_lines: vec![],
            tax_total: dec!(13.00),
            total: dec!(113.00),
            tax_date: None,
        };
        assert_eq!(split_gross(dec!(113.00), &t), (dec!(100.00), dec!(13.00)));
        assert_eq!(split_gross(dec!(10.00), &t), (dec!(8.85), dec!(1.15)));
    }
}
