//! Regions for the council's statistics: each ISO 3166-1 alpha-2 country in
//! one world region (after the UN geoscheme, with the Middle East and North
//! Africa together, as human-rights programmes report).

const AFRICA: &str = "AO BF BI BJ BW CD CF CG CI CM CV DJ ER ET GA GH GM GN GQ GW KE KM LR LS MG ML MR MU MW MZ NA NE NG RE RW SC SH SL SN SO SS ST SZ TD TG TZ UG YT ZA ZM ZW";
const MIDDLE_EAST_NORTH_AFRICA: &str =
    "AE BH DZ EG EH IL IQ IR JO KW LB LY MA OM PS QA SA SD SY TN TR YE";
const ASIA: &str = "AF AM AZ BD BN BT CN GE HK ID IN JP KG KH KP KR KZ LA LK MM MN MO MV MY NP PH PK SG TH TJ TL TM TW UZ VN";
const EUROPE: &str = "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA";
const LATIN_AMERICA_CARIBBEAN: &str = "AG AI AR AW BB BL BO BQ BR BS BV BZ CL CO CR CU CW DM DO EC FK GD GF GP GS GT GY HN HT JM KN KY LC MF MQ MS MX NI PA PE PR PY SR SV SX TC TT UY VC VE VG VI";
const NORTH_AMERICA: &str = "BM CA GL PM US UM";
const OCEANIA: &str =
    "AQ AS AU CC CK CX FJ FM GU HM IO KI MH MP NC NF NR NU NZ PF PG PN PW SB TF TK TO TV VU WF WS";

pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("africa", AFRICA),
    ("middle_east_north_africa", MIDDLE_EAST_NORTH_AFRICA),
    ("asia", ASIA),
    ("europe", EUROPE),
    ("latin_america_caribbean", LATIN_AMERICA_CARIBBEAN),
    ("north_america", NORTH_AMERICA),
    ("oceania", OCEANIA),
];

/// The region of a country code.
pub(crate) fn region_of(country: &str) -> &'static str {
    REGIONS
        .iter()
        .find(|(_, list)| list.split(' ').any(|c| c == country))
        .map_or("other", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_has_exactly_one_region() {
        let all = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";
        for c in all.split(' ') {
            let n = REGIONS
                .iter()
                .filter(|(_, l)| l.split(' ').any(|x| x == c))
                .count();
            assert_eq!(n, 1, "{c} is in {n} regions");
        }
        assert_eq!(region_of("UG"), "africa");
        assert_eq!(region_of("SY"), "middle_east_north_africa");
    }
}
