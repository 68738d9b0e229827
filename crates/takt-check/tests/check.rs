//! The plan checker against hand-built plans on the built-in `us-japan`
//! network: one fully feasible vehicle, then one mutation per rule.

use proptest::prelude::*;
use std::sync::OnceLock;
use takt_check::{MAX_LISTED_PER_CODE, Report, ViolationCode as C, check, check_summary};
use takt_core::Minute;
use takt_core::network::{CompileOptions, Network};
use takt_core::plan::{CallTimes, Hold, Outage, Plan, Stage, Step, VehiclePlan, VoyageTimes};
use takt_core::scenario::BUILTIN_US_JAPAN;
use takt_core::vin::{Vin, serial_from_number};

fn network() -> &'static Network {
    static NET: OnceLock<Network> = OnceLock::new();
    NET.get_or_init(|| {
        Network::load(
            BUILTIN_US_JAPAN,
            CompileOptions {
                days: 56,
                volume_scale: 1.0,
            },
        )
        .expect("the built-in scenario compiles")
        .1
    })
}

/// The voyage all hand-built vehicles sail on.
const VOYAGE: &str = "WCJ-S-003";

fn camry_vin(serial: u32) -> String {
    let net = network();
    let m = &net.models[net.model_index("camry").unwrap()];
    Vin::assemble(
        &m.wmi,
        &m.vds,
        m.model_year,
        m.vin_plant_code,
        &serial_from_number(serial),
    )
    .unwrap()
    .to_string()
}

fn step(stage: Stage, location: &str, resource: &str, start: Minute, end: Minute) -> Step {
    Step {
        stage,
        location: location.into(),
        resource: resource.into(),
        start,
        end,
        departure: None,
        deck_class: None,
        done: false,
    }
}

/// A Camry from Georgetown by rail to Long Beach, on `voyage` to the
/// dealer's port, certified and delivered, every step placed at the earliest
/// minute its calendar allows. Loading starts no earlier than
/// `load_delay_minutes` after the berth.
fn camry(serial: u32, dealer: &str, voyage: &str, load_delay_minutes: i64) -> VehiclePlan {
    let net = network();
    let m = &net.models[net.model_index("camry").unwrap()];
    let sv = &net.inland[net.inland_index("rail-gtn-lgb").unwrap()];
    let et = &net.export_terminals[sv.terminal];
    let port = net.locations[et.location].id.as_str();
    let vo = &net.voyages[net.voyage_index(voyage).unwrap()];
    let c = vo.call_at(et.location).unwrap();
    let d = &net.dealers[net.dealer_index(dealer).unwrap()];
    let it = &net.import_terminals[d.terminal];
    let jp = net.locations[d.port].id.as_str();
    let j = vo.call_at(d.port).unwrap();
    let call = vo.calls[c];
    let cutoff_at = call.berth.plus(-et.cutoff_minutes);

    // The latest inland departure whose vehicle is processed by the cutoff.
    let transit = sv.transit.mean_minutes();
    let ramp_minutes = et.ramp.minutes_per_vehicle;
    let (dep, p_start) = sv
        .departures
        .iter()
        .rev()
        .find_map(|&dep| {
            let ramp_end = dep.plus(transit + ramp_minutes);
            let p = et
                .processing
                .calendar
                .earliest_fit(0, ramp_end, m.processing_minutes)?;
            (p.plus(m.processing_minutes) <= cutoff_at).then_some((dep, p))
        })
        .expect("a departure that makes the cutoff");
    let released_at = dep.plus(-8 * Minute::HOUR);
    assert!(released_at >= net.start, "pick a later voyage");
    let arrival = dep.plus(transit);
    let p_end = p_start.plus(m.processing_minutes);
    let l_start = et
        .loading
        .calendar
        .earliest_fit(
            0,
            call.berth.plus(load_delay_minutes),
            et.loading.minutes_per_vehicle,
        )
        .unwrap();
    let l_end = l_start.plus(et.loading.minutes_per_vehicle);
    assert!(l_end <= call.depart);
    let jcall = vo.calls[j];
    let dis = it
        .discharge
        .calendar
        .earliest_fit(0, jcall.berth, it.discharge.minutes_per_vehicle)
        .unwrap();
    let dis_end = dis.plus(it.discharge.minutes_per_vehicle);
    assert!(dis_end <= jcall.depart);
    let cert_minutes = m.certification_minutes(it.certification.minutes_per_vehicle);
    let cert = it
        .certification
        .calendar
        .earliest_fit(0, dis_end, cert_minutes)
        .unwrap();
    let cert_end = cert.plus(cert_minutes);
    let del = *it
        .delivery_departures
        .iter()
        .find(|&&t| t >= cert_end)
        .unwrap();

    let plant = "georgetown";
    let mut inland = step(Stage::Inland, plant, &sv.id, dep, arrival);
    inland.departure = Some(dep);
    let mut sea = step(Stage::Voyage, port, voyage, call.depart, jcall.berth);
    sea.deck_class = Some("car".into());
    let mut delivery = step(
        Stage::Delivery,
        jp,
        &format!("{jp}/delivery"),
        del,
        del.plus(d.delivery_minutes),
    );
    delivery.departure = Some(del);
    let steps = vec![
        step(
            Stage::Released,
            plant,
            "georgetown/plant-yard",
            released_at,
            dep,
        ),
        inland,
        step(
            Stage::PortArrival,
            port,
            &format!("{port}/ramp"),
            arrival,
            arrival.plus(ramp_minutes),
        ),
        step(
            Stage::Processing,
            port,
            &format!("{port}/processing"),
            p_start,
            p_end,
        ),
        step(Stage::Yard, port, &format!("{port}/yard"), p_end, l_start),
        step(
            Stage::Loading,
            port,
            &format!("{port}/loading"),
            l_start,
            l_end,
        ),
        sea,
        step(
            Stage::Discharge,
            jp,
            &format!("{jp}/discharge"),
            dis,
            dis_end,
        ),
        step(
            Stage::Certification,
            jp,
            &format!("{jp}/certification"),
            cert,
            cert_end,
        ),
        delivery,
    ];
    VehiclePlan {
        vin: camry_vin(serial),
        tenant: "toyota".into(),
        model: "camry".into(),
        dealer: dealer.into(),
        released_at,
        promised_by: released_at.plus(m.promised_lead_minutes),
        voyage: Some(voyage.into()),
        steps,
        holds: Vec::new(),
        rolls: 0,
        unplaced: None,
    }
}

fn voyage_times(id: &str) -> VoyageTimes {
    let net = network();
    let vo = &net.voyages[net.voyage_index(id).unwrap()];
    VoyageTimes {
        voyage: id.into(),
        calls: vo
            .calls
            .iter()
            .map(|c| CallTimes {
                port: net.locations[c.location].id.clone(),
                berth: c.berth,
                depart: c.depart,
            })
            .collect(),
    }
}

fn plan_of(vehicles: Vec<VehiclePlan>) -> Plan {
    Plan {
        scenario: "us-japan".into(),
        volume_scale: 1.0,
        created_at: network().start,
        policy: "by hand".into(),
        vehicles,
        voyages: vec![voyage_times(VOYAGE)],
        outages: Vec::new(),
    }
}

fn one() -> Plan {
    plan_of(vec![camry(1, "tokyo-1", VOYAGE, 0)])
}

/// `n` copies of the feasible vehicle with serials 1..=n, all at the same minutes.
fn copies(n: u32) -> Plan {
    let base = camry(1, "tokyo-1", VOYAGE, 0);
    plan_of(
        (1..=n)
            .map(|k| VehiclePlan {
                vin: camry_vin(k),
                ..base.clone()
            })
            .collect(),
    )
}

fn stage_mut(plan: &mut Plan, vehicle: usize, stage: Stage) -> &mut Step {
    plan.vehicles[vehicle]
        .steps
        .iter_mut()
        .find(|s| s.stage == stage)
        .unwrap()
}

fn stage_of(plan: &Plan, vehicle: usize, stage: Stage) -> Step {
    plan.vehicles[vehicle].step(stage).unwrap().clone()
}

fn listing(report: &Report) -> String {
    report
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_feasible(net: &Network, plan: &Plan) {
    let report = check(net, plan);
    assert!(
        report.is_feasible(),
        "expected feasible, got:\n{}",
        listing(&report)
    );
}

#[track_caller]
fn assert_has(net: &Network, plan: &Plan, code: C) -> Report {
    let report = check(net, plan);
    assert!(
        report.count(code) > 0,
        "expected [{code}], got:\n{}",
        listing(&report)
    );
    assert!(!report.is_feasible());
    report
}

/// Exactly the given codes, each at least once, and nothing else.
#[track_caller]
fn assert_only(net: &Network, plan: &Plan, codes: &[C]) -> Report {
    let report = check(net, plan);
    let mut found: Vec<C> = report.counts.keys().copied().collect();
    let mut want = codes.to_vec();
    found.sort();
    want.sort();
    want.dedup();
    assert_eq!(found, want, "violations:\n{}", listing(&report));
    report
}

fn over_capacity_on(report: &Report, resource: &str) -> bool {
    report
        .of(C::OverCapacity)
        .any(|v| v.resource.as_deref() == Some(resource))
}

// ----------------------------------------------------------------- feasible

#[test]
fn single_vehicle_plan_is_feasible() {
    let plan = one();
    let report = check(network(), &plan);
    assert!(report.is_feasible(), "{}", listing(&report));
    assert_eq!(report.n_vehicles, 1);
    assert_eq!(report.n_steps, 10);
    assert_eq!(
        check_summary(&report),
        "feasible: 1 vehicles, 10 steps, no violations"
    );
}

#[test]
fn voyage_absent_from_plan_voyages_uses_the_network_schedule() {
    let mut plan = one();
    plan.voyages.clear();
    assert_feasible(network(), &plan);
}

#[test]
fn empty_plan_is_feasible() {
    assert_feasible(network(), &plan_of(Vec::new()));
}

#[test]
fn unplaced_vehicle_with_a_prefix_of_the_journey_is_feasible() {
    let mut plan = one();
    let v = &mut plan.vehicles[0];
    v.steps.truncate(3);
    v.unplaced = Some("no vessel space".into());
    assert_feasible(network(), &plan);
    plan.vehicles[0].steps.clear();
    assert_feasible(network(), &plan);
}

// ---------------------------------------------------------------- structure

#[test]
fn bad_vin_check_digit_is_reported() {
    let mut plan = one();
    let mut vin: Vec<char> = plan.vehicles[0].vin.chars().collect();
    vin[8] = if vin[8] == '1' { '2' } else { '1' };
    plan.vehicles[0].vin = vin.into_iter().collect();
    assert_only(network(), &plan, &[C::InvalidVin]);
}

#[test]
fn duplicate_vin_is_reported_even_in_lowercase() {
    let mut plan = copies(2);
    plan.vehicles[1].vin = plan.vehicles[0].vin.to_lowercase();
    assert_only(network(), &plan, &[C::DuplicateVin]);
}

#[test]
fn unknown_model_tenant_and_dealer_are_reported() {
    let mut plan = one();
    plan.vehicles[0].model = "corolla".into();
    assert_has(network(), &plan, C::UnknownModel);
    let mut plan = one();
    plan.vehicles[0].tenant = "honda".into();
    assert_only(network(), &plan, &[C::TenantMismatch]);
    let mut plan = one();
    plan.vehicles[0].dealer = "osaka-9".into();
    assert_only(network(), &plan, &[C::UnknownDealer]);
}

#[test]
fn dealer_of_another_tenant_is_reported() {
    let mut net = network().clone();
    net.tenants.push(takt_core::network::TenantInfo {
        id: "subaru".into(),
        name: "Subaru".into(),
    });
    let d = net.dealer_index("tokyo-1").unwrap();
    net.dealers[d].tenant = 1;
    assert_only(&net, &one(), &[C::DealerTenant]);
}

#[test]
fn steps_out_of_journey_order_are_reported() {
    let mut plan = one();
    plan.vehicles[0].steps.swap(3, 4);
    assert_has(network(), &plan, C::StageOrder);
}

#[test]
fn repeated_stage_is_reported() {
    let mut plan = one();
    let yard = stage_of(&plan, 0, Stage::Yard);
    plan.vehicles[0].steps.insert(5, yard);
    assert_has(network(), &plan, C::StageOrder);
}

#[test]
fn placed_vehicle_missing_a_stage_is_reported() {
    let mut plan = one();
    plan.vehicles[0].steps.retain(|s| s.stage != Stage::Loading);
    assert_only(network(), &plan, &[C::MissingStage]);
}

#[test]
fn unplaced_vehicle_with_a_gap_is_reported() {
    let mut plan = one();
    let v = &mut plan.vehicles[0];
    v.steps.truncate(5);
    v.steps.retain(|s| s.stage != Stage::PortArrival);
    v.unplaced = Some("yard full".into());
    assert_only(network(), &plan, &[C::MissingStage]);
}

#[test]
fn negative_duration_is_reported() {
    let mut plan = one();
    let yard = stage_mut(&mut plan, 0, Stage::Yard);
    yard.end = yard.start.plus(-1);
    assert_has(network(), &plan, C::NegativeDuration);
}

#[test]
fn done_step_after_a_planned_one_is_reported() {
    let mut plan = one();
    plan.created_at = stage_of(&plan, 0, Stage::Delivery).end;
    for s in &mut plan.vehicles[0].steps {
        s.done = true;
    }
    assert_feasible(network(), &plan);
    stage_mut(&mut plan, 0, Stage::Processing).done = false;
    assert_has(network(), &plan, C::DoneOrder);
}

#[test]
fn planned_step_in_the_past_is_reported() {
    let mut plan = one();
    plan.created_at = stage_of(&plan, 0, Stage::Inland).end.plus(1);
    assert_has(network(), &plan, C::PlannedInPast);
    // Done, the same steps are history and fine.
    for s in plan.vehicles[0].steps.iter_mut().take(2) {
        s.done = true;
    }
    assert_feasible(network(), &plan);
}

// --------------------------------------------------------------- precedence

#[test]
fn stage_starting_before_the_previous_ends_is_reported() {
    let mut plan = one();
    // The ramp (always open) starts a minute late and runs one minute into processing.
    let processing_start = stage_of(&plan, 0, Stage::Processing).start;
    let ramp = stage_mut(&mut plan, 0, Stage::PortArrival);
    let late = processing_start.plus(1).since(ramp.end);
    ramp.start = ramp.start.plus(late);
    ramp.end = ramp.end.plus(late);
    assert_only(network(), &plan, &[C::Precedence]);
}

#[test]
fn released_step_not_at_release_is_reported() {
    let mut plan = one();
    plan.vehicles[0].released_at = plan.vehicles[0].released_at.plus(-1);
    assert_only(network(), &plan, &[C::ReleaseTime]);
}

// ------------------------------------------------------ locations, resources

#[test]
fn wrong_resource_and_location_are_reported() {
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Processing).resource = "USSAN/processing".into();
    assert_has(network(), &plan, C::WrongResource);
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Discharge).location = "JPNGO".into();
    assert_only(network(), &plan, &[C::WrongLocation]);
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Inland).resource = "rail-prn-lgb".into();
    assert_has(network(), &plan, C::WrongResource);
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Delivery).resource = "JPNGO/delivery".into();
    assert_only(network(), &plan, &[C::WrongResource]);
}

#[test]
fn unscheduled_inland_departure_is_reported() {
    let mut plan = one();
    let inland = stage_mut(&mut plan, 0, Stage::Inland);
    inland.departure = inland.departure.map(|d| d.plus(1));
    let report = assert_only(network(), &plan, &[C::WrongDeparture]);
    // Not scheduled, and not the step's start.
    assert_eq!(report.count(C::WrongDeparture), 2);
    stage_mut(&mut plan, 0, Stage::Delivery).departure = None;
    assert_eq!(check(network(), &plan).count(C::WrongDeparture), 3);
}

#[test]
fn voyage_step_must_match_the_vehicles_voyage() {
    let mut plan = one();
    plan.vehicles[0].voyage = Some("WCJ-S-004".into());
    assert_has(network(), &plan, C::WrongResource);
    let mut plan = one();
    plan.vehicles[0].voyage = Some("WCJ-X-001".into());
    stage_mut(&mut plan, 0, Stage::Voyage).resource = "WCJ-X-001".into();
    assert_has(network(), &plan, C::UnknownVoyage);
}

#[test]
fn voyage_not_calling_at_the_export_port_is_reported() {
    // The north loop calls at Tacoma and Oakland, not Long Beach.
    let net = network();
    let north = net
        .voyages
        .iter()
        .find(|v| v.service == "WCJ-N")
        .unwrap()
        .id
        .clone();
    let mut plan = one();
    plan.vehicles[0].voyage = Some(north.clone());
    stage_mut(&mut plan, 0, Stage::Voyage).resource = north;
    let report = assert_has(net, &plan, C::VoyageRoute);
    assert!(
        report
            .of(C::VoyageRoute)
            .any(|v| v.message.contains("USLGB"))
    );
}

#[test]
fn deck_class_missing_unknown_or_too_low_is_reported() {
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Voyage).deck_class = Some("tiny".into());
    assert_only(network(), &plan, &[C::DeckClass]);
    stage_mut(&mut plan, 0, Stage::Voyage).deck_class = None;
    assert_only(network(), &plan, &[C::DeckClass]);
    let mut net = network().clone();
    let m = net.model_index("camry").unwrap();
    net.models[m]
        .deck_classes
        .retain(|&d| net.deck_classes[d].id != "car");
    assert_only(&net, &one(), &[C::DeckClass]);
}

// ------------------------------------------------------------ pool capacity

#[test]
fn seven_camrys_on_six_processing_stations_are_over_capacity() {
    let net = network();
    let six = check(net, &copies(6));
    assert!(
        !over_capacity_on(&six, "USLGB/processing"),
        "{}",
        listing(&six)
    );
    let seven = check(net, &copies(7));
    assert!(
        over_capacity_on(&seven, "USLGB/processing"),
        "{}",
        listing(&seven)
    );
    let p = stage_of(&copies(1), 0, Stage::Processing);
    let v = seven
        .of(C::OverCapacity)
        .find(|v| v.resource.as_deref() == Some("USLGB/processing"))
        .unwrap();
    assert_eq!(v.at, Some(p.start));
    assert!(
        v.message.starts_with("7 vehicles at once, capacity 6"),
        "{v}"
    );
}

#[test]
fn step_in_a_closed_window_is_over_capacity() {
    // Processing on a Sunday: the calendar has no window, capacity 0.
    let net = network();
    let mut plan = one();
    let p = stage_of(&plan, 0, Stage::Processing);
    let cal = &net.resources[net.resource_index("USLGB/processing").unwrap()].calendar;
    let minutes = net.models[net.model_index("camry").unwrap()].processing_minutes;
    let ramp = stage_of(&plan, 0, Stage::PortArrival);
    let ramp_minutes = ramp.end.since(ramp.start);
    let inland_start = stage_of(&plan, 0, Stage::Inland).start;
    let closed = (1..7 * 24)
        .map(|h| p.start.plus(-h * Minute::HOUR))
        .find(|&t| cal.servers_at(t) == 0 && cal.servers_at(t.plus(minutes - 1)) == 0)
        .unwrap();
    // The train arrived early (a move already made may beat the mean), so
    // the vehicle is at the port before the closed window.
    assert!(closed.plus(-ramp_minutes) > inland_start);
    let inland = stage_mut(&mut plan, 0, Stage::Inland);
    inland.end = closed.plus(-ramp_minutes);
    inland.done = true;
    stage_mut(&mut plan, 0, Stage::Released).done = true;
    let r = stage_mut(&mut plan, 0, Stage::PortArrival);
    r.start = closed.plus(-ramp_minutes);
    r.end = closed;
    let s = stage_mut(&mut plan, 0, Stage::Processing);
    s.start = closed;
    s.end = closed.plus(minutes);
    stage_mut(&mut plan, 0, Stage::Yard).start = closed.plus(minutes);
    let report = assert_only(net, &plan, &[C::OverCapacity]);
    assert!(report.violations[0].message.contains("capacity 0"));
}

#[test]
fn outage_takes_servers_away() {
    let net = network();
    let p = stage_of(&one(), 0, Stage::Processing);
    let mut plan = one();
    plan.outages.push(Outage {
        resource: "USLGB/processing".into(),
        from: p.start.plus(-30),
        to: p.start.plus(10),
        servers: 5,
    });
    assert_feasible(net, &plan);
    plan.outages[0].servers = 6;
    let report = assert_only(net, &plan, &[C::OverCapacity]);
    assert!(report.violations[0].message.contains("6 out of service"));
    plan.outages[0].resource = "USLGB/nothing".into();
    assert_only(net, &plan, &[C::WrongResource]);
}

#[test]
fn step_shorter_than_its_service_time_is_reported() {
    let mut plan = one();
    let p = stage_mut(&mut plan, 0, Stage::Processing);
    p.end = p.end.plus(-1);
    assert_only(network(), &plan, &[C::ServiceTime]);
    let mut plan = one();
    let c = stage_mut(&mut plan, 0, Stage::Certification);
    c.end = c.start.plus(39);
    assert_only(network(), &plan, &[C::ServiceTime]);
}

// ------------------------------------------------------ departure capacity

#[test]
fn inland_departure_over_its_units_is_reported() {
    let mut net = network().clone();
    let s = net.inland_index("rail-gtn-lgb").unwrap();
    net.inland[s].units_per_departure = 1;
    // 15 Camrys fill one tri-level autorack, the 16th needs a second.
    let fifteen = check(&net, &copies(15));
    assert_eq!(
        fifteen.count(C::DepartureCapacity),
        0,
        "{}",
        listing(&fifteen)
    );
    let sixteen = check(&net, &copies(16));
    assert_eq!(
        sixteen.count(C::DepartureCapacity),
        1,
        "{}",
        listing(&sixteen)
    );
    let v = sixteen.of(C::DepartureCapacity).next().unwrap();
    assert_eq!(v.resource.as_deref(), Some("rail-gtn-lgb"));
    assert!(v.message.contains("need 2 units"), "{v}");

    net.inland[s].vehicles_per_unit[net.models[0].inland_class] = 0;
    assert_has(&net, &copies(1), C::ClassNotCarried);
}

#[test]
fn delivery_departure_over_its_trucks_is_reported() {
    // 3 trucks of 6 cars: 18 fit, 19 do not.
    let eighteen = check(network(), &copies(18));
    assert_eq!(eighteen.count(C::DepartureCapacity), 0);
    let nineteen = check(network(), &copies(19));
    let v = nineteen.of(C::DepartureCapacity).next().expect("over");
    assert_eq!(v.resource.as_deref(), Some("JPYOK/delivery"));
}

// ------------------------------------------------------------------ voyages

#[test]
fn plan_voyage_times_earlier_than_scheduled_are_reported() {
    let mut plan = one();
    plan.voyages[0].calls[0].berth = plan.voyages[0].calls[0].berth.plus(-60);
    assert_only(network(), &plan, &[C::VoyageTimes]);
    let mut plan = one();
    plan.voyages.push(voyage_times(VOYAGE));
    assert_only(network(), &plan, &[C::VoyageTimes]);
    let mut plan = one();
    plan.voyages[0].calls.swap(3, 4);
    assert_only(network(), &plan, &[C::VoyageTimes]);
    let mut plan = one();
    plan.voyages[0].voyage = "WCJ-S-999".into();
    assert_only(network(), &plan, &[C::UnknownVoyage]);
}

#[test]
fn delayed_vessel_in_the_plan_moves_the_windows() {
    // The plan says the vessel is two hours late everywhere, but the steps
    // still follow the schedule.
    let mut plan = one();
    for c in &mut plan.voyages[0].calls {
        c.berth = c.berth.plus(120);
        c.depart = c.depart.plus(120);
    }
    let report = check(network(), &plan);
    assert!(report.count(C::LoadingWindow) > 0, "{}", listing(&report));
    assert!(report.count(C::VoyageTiming) > 0);
    assert_eq!(report.count(C::VoyageTimes), 0);
}

#[test]
fn loading_before_the_berth_is_reported() {
    let mut plan = one();
    let l = stage_mut(&mut plan, 0, Stage::Loading);
    l.start = l.start.plus(-30);
    l.end = l.end.plus(-30);
    stage_mut(&mut plan, 0, Stage::Yard).end = stage_of(&plan, 0, Stage::Loading).start;
    assert_has(network(), &plan, C::LoadingWindow);
}

#[test]
fn staging_after_the_cutoff_is_reported() {
    let mut net = network().clone();
    for t in &mut net.export_terminals {
        t.cutoff_minutes = 30 * Minute::DAY;
    }
    assert_only(&net, &one(), &[C::Cutoff]);
}

#[test]
fn voyage_step_off_the_schedule_is_reported() {
    let mut plan = one();
    let v = stage_mut(&mut plan, 0, Stage::Voyage);
    v.start = v.start.plus(1);
    assert_only(network(), &plan, &[C::VoyageTiming]);
    let mut plan = one();
    let v = stage_mut(&mut plan, 0, Stage::Voyage);
    v.end = v.end.plus(-1);
    assert_only(network(), &plan, &[C::VoyageTiming]);
}

#[test]
fn discharge_after_the_vessel_leaves_is_reported() {
    let mut plan = one();
    let depart = plan.voyages[0].calls[3].depart;
    let d = stage_mut(&mut plan, 0, Stage::Discharge);
    d.end = depart.plus(1);
    assert_has(network(), &plan, C::DischargeWindow);
}

#[test]
fn booked_space_overflow_is_reported() {
    // 150 RT43 booked on the car deck; a Camry is about 1.414 RT43.
    let net = network();
    let m = &net.models[net.model_index("camry").unwrap()];
    let fit = (150.0 / m.rt43).floor() as u32;
    assert_eq!(fit, 106);
    let full = check(net, &copies(fit));
    assert_eq!(full.count(C::BookedSpace), 0, "{}", listing(&full));
    let over = check(net, &copies(fit + 1));
    assert_eq!(over.count(C::BookedSpace), 1);
    let v = over.of(C::BookedSpace).next().unwrap();
    assert_eq!(v.resource.as_deref(), Some(VOYAGE));
    assert!(v.message.contains("deck class `car`"), "{v}");
}

// --------------------------------------------------------------- stow order

#[test]
fn stow_order_inversion_is_reported() {
    // Yokohama (tokyo-1) is discharged before Nagoya (aichi-1): the Nagoya
    // car must go in first.
    let net = network();
    let good = plan_of(vec![
        camry(1, "aichi-1", VOYAGE, 0),
        camry(2, "tokyo-1", VOYAGE, 12),
    ]);
    assert_feasible(net, &good);
    let bad = plan_of(vec![
        camry(1, "aichi-1", VOYAGE, 12),
        camry(2, "tokyo-1", VOYAGE, 0),
    ]);
    let report = assert_only(net, &bad, &[C::StowOrder]);
    let v = &report.violations[0];
    assert_eq!(v.vin.as_deref(), Some(camry_vin(1).as_str()));
    assert_eq!(v.resource.as_deref(), Some(VOYAGE));
    // Loaded at the same minute: no order, no inversion.
    let tie = plan_of(vec![
        camry(1, "aichi-1", VOYAGE, 0),
        camry(2, "tokyo-1", VOYAGE, 0),
    ]);
    assert_feasible(net, &tie);
}

#[test]
fn every_inverted_pair_is_counted() {
    let plan = plan_of(vec![
        camry(1, "tokyo-1", VOYAGE, 0),
        camry(2, "aichi-1", VOYAGE, 12),
        camry(3, "kansai-1", VOYAGE, 24),
    ]);
    let report = assert_only(network(), &plan, &[C::StowOrder]);
    assert_eq!(report.count(C::StowOrder), 3);
}

// ------------------------------------------------- certification and holds

#[test]
fn certification_before_approval_is_reported() {
    let mut net = network().clone();
    let m = net.model_index("camry").unwrap();
    let cert = stage_of(&one(), 0, Stage::Certification);
    net.models[m].cert.approved_from = Some(cert.start);
    assert_feasible(&net, &one());
    net.models[m].cert.approved_from = Some(cert.start.plus(1));
    assert_only(&net, &one(), &[C::CertBeforeApproval]);
}

#[test]
fn certification_of_an_unapproved_model_is_reported() {
    let mut net = network().clone();
    let m = net.model_index("camry").unwrap();
    net.models[m].cert.approved_from = None;
    assert_only(&net, &one(), &[C::CertNotApproved]);
    // Done certification steps are reported too.
    let mut plan = one();
    plan.created_at = stage_of(&plan, 0, Stage::Delivery).end;
    for s in &mut plan.vehicles[0].steps {
        s.done = true;
    }
    assert_only(&net, &plan, &[C::CertNotApproved]);
}

#[test]
fn certifications_over_the_annual_cap_are_reported() {
    let mut net = network().clone();
    let m = net.model_index("camry").unwrap();
    net.models[m].cert.annual_cap = Some(2);
    assert_feasible(&net, &copies(2));
    net.models[m].cert.annual_cap = Some(1);
    assert_only(&net, &copies(2), &[C::CertAnnualCap]);
}

#[test]
fn step_starting_inside_a_hold_is_reported() {
    let mut plan = one();
    let p = stage_of(&plan, 0, Stage::Processing);
    let ramp_start = stage_of(&plan, 0, Stage::PortArrival).start;
    plan.vehicles[0].holds.push(Hold {
        reason: "damage".into(),
        from: ramp_start,
        to: p.start,
    });
    // The hold ends as processing starts: fine.
    assert_feasible(network(), &plan);
    plan.vehicles[0].holds[0].to = p.start.plus(1);
    let report = assert_only(network(), &plan, &[C::StartDuringHold]);
    assert!(report.violations[0].message.contains("damage"));
}

// ----------------------------------------------------------------- delivery

#[test]
fn delivery_of_the_wrong_length_is_reported() {
    let mut plan = one();
    let d = stage_mut(&mut plan, 0, Stage::Delivery);
    d.end = d.end.plus(1);
    assert_only(network(), &plan, &[C::DeliveryDuration]);
}

// ------------------------------------------------------------------- report

#[test]
fn violations_beyond_the_cap_are_counted_not_listed() {
    let n = MAX_LISTED_PER_CODE as u32 + 100;
    let mut plan = copies(1);
    let base = plan.vehicles[0].clone();
    plan.vehicles = (0..n)
        .map(|k| VehiclePlan {
            vin: format!("BAD{k}"),
            ..base.clone()
        })
        .collect();
    let report = check(network(), &plan);
    assert_eq!(report.count(C::InvalidVin), n as usize);
    let listed: Vec<_> = report.of(C::InvalidVin).collect();
    assert_eq!(listed.len(), MAX_LISTED_PER_CODE + 1);
    assert!(
        listed
            .last()
            .unwrap()
            .message
            .starts_with("and 100 more `invalid_vin` violations"),
        "{}",
        listed.last().unwrap()
    );
    assert!(check_summary(&report).contains(&format!("\n  invalid_vin: {n}")));
}

#[test]
fn violation_displays_on_one_line_and_serializes_in_snake_case() {
    let mut plan = one();
    let d = stage_mut(&mut plan, 0, Stage::Delivery);
    d.end = d.end.plus(1);
    let report = check(network(), &plan);
    let v = &report.violations[0];
    let line = v.to_string();
    assert!(
        line.starts_with(&format!(
            "[delivery_duration] VIN {} resource JPYOK/delivery at ",
            camry_vin(1)
        )),
        "{line}"
    );
    assert!(!line.contains('\n'));
    let json = serde_json::to_value(v).unwrap();
    assert_eq!(json["code"], "delivery_duration");
    assert_eq!(json["vin"], camry_vin(1));
    assert!(json["at"].as_str().unwrap().ends_with('Z'));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["counts"]["delivery_duration"], 1);
    for code in C::ALL {
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::Value::String(code.as_str().into())
        );
        assert!((1..=9).contains(&code.rule()));
    }
    assert!(check_summary(&report).starts_with("infeasible: 1 vehicles, 10 steps, 1 violations"));
}

/// A plan of 100,000 vehicles; run with `TAKT_SLOW_TESTS=1`, ideally with
/// `--release`, to see the time it takes.
#[test]
fn checks_a_hundred_thousand_vehicles() {
    if std::env::var_os("TAKT_SLOW_TESTS").is_none() {
        return;
    }
    let net = network();
    let dealers = ["tokyo-1", "shizuoka-1", "aichi-1", "kansai-1"];
    // Voyages a week apart, so every calendar and departure repeats.
    let mut templates = Vec::new();
    for week in 0..16i64 {
        let voyage = format!("WCJ-S-{:03}", 3 + week);
        for (k, dealer) in dealers.iter().enumerate() {
            let mut v = camry(1, dealer, VOYAGE, 12 * (3 - k as i64));
            v.voyage = Some(voyage.clone());
            v.released_at = v.released_at.plus(week * 7 * Minute::DAY);
            for s in &mut v.steps {
                s.start = s.start.plus(week * 7 * Minute::DAY);
                s.end = s.end.plus(week * 7 * Minute::DAY);
                s.departure = s.departure.map(|d| d.plus(week * 7 * Minute::DAY));
                if s.stage == Stage::Voyage {
                    s.resource = voyage.clone();
                }
            }
            templates.push(v);
        }
    }
    let vehicles: Vec<VehiclePlan> = (0..100_000u32)
        .map(|i| {
            let t = &templates[i as usize % templates.len()];
            let mut v = t.clone();
            v.vin = camry_vin(i);
            v
        })
        .collect();
    let mut plan = plan_of(vehicles);
    plan.voyages = (3..19)
        .map(|k| voyage_times(&format!("WCJ-S-{k:03}")))
        .collect();
    let t0 = std::time::Instant::now();
    let report = check(net, &plan);
    let elapsed = t0.elapsed();
    eprintln!(
        "checked {} vehicles, {} steps in {:?}\n{}",
        report.n_vehicles,
        report.n_steps,
        elapsed,
        check_summary(&report)
    );
    assert_eq!(report.n_steps, 1_000_000);
    assert_eq!(report.count(C::StowOrder), 0);
    assert_eq!(report.count(C::VoyageTiming), 0);
    assert!(report.count(C::OverCapacity) > 0);
}

// --------------------------------------------------------------- properties

fn arb_mutation() -> impl Strategy<Value = (usize, usize, i64, u8)> {
    (0..3usize, 0..10usize, -3000i64..3000, 0..8u8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever happens to a plan, the checker reports without panicking,
    /// and its counts agree with its list.
    #[test]
    fn never_panics_and_counts_agree(mutations in prop::collection::vec(arb_mutation(), 0..12)) {
        let mut plan = plan_of(vec![
            camry(1, "tokyo-1", VOYAGE, 0),
            camry(2, "aichi-1", VOYAGE, 12),
            camry(3, "kansai-1", VOYAGE, 24),
        ]);
        for (v, s, delta, what) in mutations {
            let vp = &mut plan.vehicles[v];
            if vp.steps.is_empty() {
                continue;
            }
            let s = s % vp.steps.len();
            match what {
                0 => vp.steps[s].start = vp.steps[s].start.plus(delta),
                1 => vp.steps[s].end = vp.steps[s].end.plus(delta),
                2 => { vp.steps.remove(s); }
                3 => {
                    let n = vp.steps.len();
                    vp.steps.swap(s, (s + 1) % n);
                }
                4 => vp.steps[s].resource = format!("X{delta}"),
                5 => vp.steps[s].departure = Some(vp.steps[s].start.plus(delta)),
                6 => vp.dealer = ["tokyo-1", "aichi-1", "nowhere"][s % 3].into(),
                _ => vp.holds.push(Hold { reason: "q".into(), from: vp.steps[s].start.plus(-delta.abs()), to: vp.steps[s].start.plus(delta.abs()) }),
            }
        }
        let report = check(network(), &plan);
        prop_assert_eq!(report.is_feasible(), report.n_violations() == 0);
        for (&code, &n) in &report.counts {
            let listed = report.of(code).count();
            prop_assert_eq!(listed, if n > MAX_LISTED_PER_CODE { MAX_LISTED_PER_CODE + 1 } else { n });
        }
    }

    /// Any reordering of a feasible vehicle's steps is a stage-order violation.
    #[test]
    fn shuffled_steps_break_the_stage_order(perm in Just((0..10usize).collect::<Vec<_>>()).prop_shuffle()) {
        prop_assume!(perm.iter().enumerate().any(|(i, &p)| i != p));
        let mut plan = one();
        let steps = plan.vehicles[0].steps.clone();
        plan.vehicles[0].steps = perm.iter().map(|&i| steps[i].clone()).collect();
        prop_assert!(check(network(), &plan).count(C::StowOrder) == 0);
        prop_assert!(check(network(), &plan).count(C::StageOrder) > 0);
    }

    /// The stow-order count equals a brute-force count of inverted pairs.
    #[test]
    fn stow_inversions_match_brute_force(picks in prop::collection::vec((0..4usize, 0..4i64), 1..12)) {
        let dealers = ["tokyo-1", "shizuoka-1", "aichi-1", "kansai-1"];
        let plan = plan_of(
            picks
                .iter()
                .enumerate()
                .map(|(i, &(d, slot))| camry(i as u32 + 1, dealers[d], VOYAGE, slot * 12))
                .collect(),
        );
        let net = network();
        let vo = &net.voyages[net.voyage_index(VOYAGE).unwrap()];
        let call = |v: &VehiclePlan| vo.call_at(net.dealers[net.dealer_index(&v.dealer).unwrap()].port).unwrap();
        let mut expected = 0;
        for a in &plan.vehicles {
            for b in &plan.vehicles {
                let (la, lb) = (a.step(Stage::Loading).unwrap().start, b.step(Stage::Loading).unwrap().start);
                if la < lb && call(a) < call(b) {
                    expected += 1;
                }
            }
        }
        prop_assert_eq!(check(net, &plan).count(C::StowOrder), expected);
    }
}

#[test]
fn planned_inland_move_faster_than_the_mean_is_reported() {
    let mut plan = one();
    stage_mut(&mut plan, 0, Stage::Inland).end.0 -= 1;
    let report = assert_only(network(), &plan, &[C::ServiceTime]);
    assert!(
        report.violations[0].message.contains("inland"),
        "{report:?}"
    );
    // The same move already made is history, whatever it took.
    stage_mut(&mut plan, 0, Stage::Released).done = true;
    stage_mut(&mut plan, 0, Stage::Inland).done = true;
    assert_feasible(network(), &plan);
}
