"""A heated sidewalk slab's surface: a one-layer energy balance with snow and water.

The slab is one well-mixed layer of concrete (thickness d, density rho, heat
capacity c) with its top at the surface. Per square metre, with T the slab
temperature (°C) and dt a sub-step of `SUBSTEP_S` seconds (explicit Euler):

    C dT/dt = P + Q_sw + Q_lw - Q_conv - Q_ground - Q_melt          C = rho c d  (J/m²K)

- P, the heating power (W/m²): `power_w_m2` while the heater is on, else 0.
- Q_sw = (1 - albedo) S, shortwave. The weather table has no radiation, so
  S is a clear-sky estimate, S = S0 max(0, sin(pi (h - 6.5) / 11)) with h the
  local solar hour (sunrise 06:30, sunset 17:30, winter at 40.7 °N) and
  S0 = 450 W/m², times 0.25 while it precipitates or visibility is under 5 miles.
- Q_lw = eps sigma (T_sky^4 - T^4), longwave, T_sky = 0.0552 T_air^1.5
  (Swinbank 1963, kelvin) under a clear sky and T_sky = T_air under cloud
  (precipitating or visibility under 5 miles).
- Q_conv = h (T - T_air), h = 5.6 + 4.0 v (W/m²K, v the wind in m/s; the
  McAdams/Jürges flat-plate coefficient).
- Q_ground = U_g (T - T_ground), to the ground below (T_ground 5 °C in winter).
- Snow: precipitation falls as snow when T_air <= 1 °C (else as rain) and is
  held as snow water equivalent S (kg/m², 1 mm of precipitation = 1 kg/m²).
  While S > 0 the surface cannot rise above 0 °C: energy that would lift it
  melts snow instead, melt = C (T' - 0) / L_f (L_f = 334 kJ/kg), the water
  joins the surface water W. Snow lying on a slab below 0 °C stays.
- Water W (kg/m², rain and melt) drains and evaporates only while the
  surface is above 0 °C: `dry_kg_m2_h` (1 + v/5) per hour. At or below 0 °C it
  is ice and stays. (The latent heat of freezing and of evaporation is left
  out: small beside P and the convective loss at these rates.)

The surface is **icy** when T <= 0 °C with snow or water present
(S + W > `WET_KG_M2`). Energy used is P times the heated area and the time on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIGMA = 5.670e-8  # W/m²K⁴
L_FUSION = 334_000.0  # J/kg
SUBSTEP_S = 300.0
WET_KG_M2 = 0.05  # a film thinner than this is dry


@dataclass(frozen=True)
class SlabParams:
    thickness_m: float = 0.10
    density: float = 2400.0  # kg/m³, concrete
    heat_capacity: float = 880.0  # J/kgK
    albedo: float = 0.35
    emissivity: float = 0.94
    ground_u: float = 1.5  # W/m²K, to the ground below (insulated slab)
    ground_c: float = 5.0  # °C
    power_w_m2: float = 350.0  # the heater's power per square metre
    dry_kg_m2_h: float = 0.3
    snow_below_c: float = 1.0

    @property
    def capacity(self) -> float:
        return self.density * self.heat_capacity * self.thickness_m


@dataclass(frozen=True)
class Weather:
    """One hour of weather at the slab, in SI units."""

    air_c: float
    wind_m_s: float
    precip_mm: float  # in this hour
    solar_hour: float  # local solar time, hours
    cloudy: bool


@dataclass
class Slab:
    params: SlabParams
    temp_c: float
    snow_kg_m2: float = 0.0
    water_kg_m2: float = 0.0

    @property
    def moisture_kg_m2(self) -> float:
        return self.snow_kg_m2 + self.water_kg_m2

    @property
    def icy(self) -> bool:
        return self.temp_c <= 0.0 and self.moisture_kg_m2 > WET_KG_M2

    def hour(self, w: Weather, heating: bool) -> float:
        """Advance one hour; returns the fraction of it the surface was icy."""
        p = self.params
        steps = int(3600 / SUBSTEP_S)
        icy = 0
        for i in range(steps):
            frac = 1.0 / steps
            if w.precip_mm > 0:
                if w.air_c <= p.snow_below_c:
                    self.snow_kg_m2 += w.precip_mm * frac
                else:
                    self.water_kg_m2 += w.precip_mm * frac
            solar = solar_w_m2(w.solar_hour + i * frac, w.cloudy)
            t_air_k = w.air_c + 273.15
            t_sky_k = t_air_k if w.cloudy else 0.0552 * t_air_k**1.5
            t_k = self.temp_c + 273.15
            q = (
                (p.power_w_m2 if heating else 0.0)
                + (1 - p.albedo) * solar
                + p.emissivity * SIGMA * (t_sky_k**4 - t_k**4)
                - (5.6 + 4.0 * w.wind_m_s) * (self.temp_c - w.air_c)
                - p.ground_u * (self.temp_c - p.ground_c)
            )
            t_new = self.temp_c + q * SUBSTEP_S / p.capacity
            if self.snow_kg_m2 > 0 and t_new > 0.0:
                can_melt = p.capacity * t_new / L_FUSION
                melt = min(can_melt, self.snow_kg_m2)
                self.snow_kg_m2 -= melt
                self.water_kg_m2 += melt
                t_new -= melt * L_FUSION / p.capacity
            self.temp_c = t_new
            if self.temp_c > 0.0 and self.water_kg_m2 > 0:
                dry = p.dry_kg_m2_h * (1 + w.wind_m_s / 5) * frac
                self.water_kg_m2 = max(0.0, self.water_kg_m2 - dry)
            icy += self.icy
        return icy / steps


def solar_w_m2(solar_hour: float, cloudy: bool) -> float:
    h = solar_hour % 24
    s = 450.0 * max(0.0, math.sin(math.pi * (h - 6.5) / 11.0)) if 6.5 < h < 17.5 else 0.0
    return s * (0.25 if cloudy else 1.0)
