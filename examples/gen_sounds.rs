//! Synthesises the example sounds shipped in `sounds/` — `airhorn`, `applause` and `drumroll` —
//! from sines and noise, so they are the project's own (CC0-1.0, see `sounds/README.md`).
//! Each is a 16-bit mono 22,050 Hz WAV of about a second and a half; the noise comes from a
//! fixed-seed generator, so every run writes the same files.
//!
//! ```text
//! cargo run --example gen_sounds              # writes sounds/airhorn.wav, applause.wav, drumroll.wav
//! cargo run --example gen_sounds -- DIR       # writes them to DIR instead
//! ```

use std::f32::consts::TAU;
use std::path::PathBuf;

const RATE: u32 = 22_050;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("sounds"), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    // Loudest samples, of full scale: the horn is dense (overdriven), the others are peaks
    // over quieter stretches, so they may go higher and still sound no louder.
    for (name, samples, peak) in [
        ("airhorn", airhorn(), 0.5),
        ("applause", applause(), 0.8),
        ("drumroll", drumroll(), 0.8),
    ] {
        let path = dir.join(format!("{name}.wav"));
        let bytes = wav(&normalise(samples, peak));
        std::fs::write(&path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

/// Samples in a span of seconds.
fn frames(secs: f32) -> usize {
    (secs * RATE as f32) as usize
}

/// Three blasts of a brassy chord (a root, its major third and fifth, each a band-limited
/// sawtooth), each sliding up into pitch with a slight vibrato, overdriven like a horn's reed.
fn airhorn() -> Vec<f32> {
    const ROOT: f32 = 415.0;
    let blasts = [(0.0, 0.16), (0.22, 0.16), (0.44, 0.9)];
    let mut out = vec![0.0; frames(1.4)];
    for (start, len) in blasts {
        let first = frames(start);
        let mut phases = [0.0_f32; 3];
        for i in 0..frames(len) {
            let t = i as f32 / RATE as f32;
            let glide = 1.0 - 0.06 * (-t / 0.03).exp();
            let vibrato = 1.0 + 0.004 * (TAU * 6.0 * t).sin();
            let mut s = 0.0;
            for (phase, ratio) in phases.iter_mut().zip([1.0, 1.26, 1.498]) {
                let f = ROOT * ratio * glide * vibrato;
                *phase = (*phase + f / RATE as f32).fract();
                s += saw(*phase, f);
            }
            let env = envelope(t, len, 0.012, 0.05);
            if let Some(o) = out.get_mut(first + i) {
                *o += (1.8 * s * env).tanh();
            }
        }
    }
    out
}

/// A sawtooth at `phase` (0..1) from its harmonics below 9 kHz: no aliasing whistle.
fn saw(phase: f32, f: f32) -> f32 {
    let harmonics = (9_000.0 / f) as u32;
    (1..=harmonics.max(1))
        .map(|k| (TAU * k as f32 * phase).sin() / k as f32)
        .sum::<f32>()
        * 0.4
}

/// A crowd clapping: about 45 claps a second, each a short band-passed noise burst of its own
/// loudness and length, over a murmur, swelling in and dying away.
fn applause() -> Vec<f32> {
    let len = 1.5;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut claps = vec![0.0; frames(len)];
    let count = (45.0 * len) as usize;
    for _ in 0..count {
        let start = (noise.unit() * claps.len() as f32) as usize;
        let loud = 0.3 + 0.7 * noise.unit();
        let decay = 0.004 + 0.01 * noise.unit();
        for i in 0..frames(0.06) {
            let t = i as f32 / RATE as f32;
            if let Some(c) = claps.get_mut(start + i) {
                *c += loud * noise.next() * (-t / decay).exp();
            }
        }
    }
    let mut band = Biquad::band_pass(1_400.0, 0.6);
    claps
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let t = i as f32 / RATE as f32;
            let murmur = 0.08 * noise.next();
            band.run(c + murmur) * envelope(t, len, 0.1, 0.5)
        })
        .collect()
}

/// A snare roll speeding up and swelling for a second, then an accent with a cymbal crash.
fn drumroll() -> Vec<f32> {
    let len = 1.5;
    let roll = 1.0;
    let mut noise = Noise(0x2545_f491_4f6c_dd1d);
    let mut out = vec![0.0; frames(len)];
    let mut t = 0.0;
    while t < roll {
        let progress = t / roll;
        snare(&mut out, &mut noise, t, 0.25 + 0.45 * progress);
        t += 1.0 / (13.0 + 10.0 * progress);
    }
    snare(&mut out, &mut noise, roll, 1.0);
    let mut bright = Biquad::high_pass(5_000.0, 0.7);
    let first = frames(roll);
    for i in 0..out.len().saturating_sub(first) {
        let t = i as f32 / RATE as f32;
        if let Some(o) = out.get_mut(first + i) {
            *o += 0.6 * bright.run(noise.next()) * (-t / 0.25).exp();
        }
    }
    out
}

/// One snare stroke at `at` seconds: a noisy rattle over a short 190 Hz body.
fn snare(out: &mut [f32], noise: &mut Noise, at: f32, loud: f32) {
    let first = frames(at);
    for i in 0..frames(0.15) {
        let t = i as f32 / RATE as f32;
        let rattle = noise.next() * (-t / 0.035).exp();
        let body = 0.6 * (TAU * 190.0 * t).sin() * (-t / 0.025).exp();
        if let Some(o) = out.get_mut(first + i) {
            *o += loud * (rattle + body);
        }
    }
}

/// A linear rise over `attack` seconds and fall over the last `release` of `len`.
fn envelope(t: f32, len: f32, attack: f32, release: f32) -> f32 {
    (t / attack).min((len - t) / release).clamp(0.0, 1.0)
}

/// Scales the sound so its loudest sample is `peak` of full scale.
fn normalise(samples: Vec<f32>, peak: f32) -> Vec<f32> {
    let loudest = samples.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
    let gain = if loudest > 0.0 { peak / loudest } else { 1.0 };
    samples.into_iter().map(|s| s * gain).collect()
}

/// A RIFF/WAVE file: PCM, 16-bit, mono, [`RATE`].
fn wav(samples: &[f32]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // the fmt chunk's size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes a second
    out.extend_from_slice(&2u16.to_le_bytes()); // bytes a frame
    out.extend_from_slice(&16u16.to_le_bytes()); // bits a sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        let s = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// xorshift64*: white noise that is the same on every run.
struct Noise(u64);

impl Noise {
    /// A sample from -1 to 1.
    fn next(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }

    /// A number from 0 to 1.
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32
    }
}

/// A second-order filter (the Audio EQ Cookbook's band-pass and high-pass).
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    fn band_pass(f: f32, q: f32) -> Biquad {
        let (cos, alpha) = Biquad::angle(f, q);
        Biquad::new([alpha, 0.0, -alpha], 1.0 + alpha, [-2.0 * cos, 1.0 - alpha])
    }

    fn high_pass(f: f32, q: f32) -> Biquad {
        let (cos, alpha) = Biquad::angle(f, q);
        let b = (1.0 + cos) / 2.0;
        Biquad::new([b, -2.0 * b, b], 1.0 + alpha, [-2.0 * cos, 1.0 - alpha])
    }

    fn angle(f: f32, q: f32) -> (f32, f32) {
        let w = TAU * f / RATE as f32;
        (w.cos(), w.sin() / (2.0 * q))
    }

    fn new(b: [f32; 3], a0: f32, a: [f32; 2]) -> Biquad {
        Biquad {
            b: b.map(|v| v / a0),
            a: a.map(|v| v / a0),
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}
