// The audible alert for unacknowledged assignments: a two-tone beep every two seconds, made
// with Web Audio (no sound file to ship). Browsers keep audio locked until the user interacts
// with the page; until then `blocked()` is true and the console offers a button.

const PERIOD_MS = 2000;

export class Alarm {
  // onChange: called when the browser lets the page play sound (or stops it).
  constructor({ onChange = () => {} } = {}) {
    this.context = null;
    this.timer = null;
    this.onChange = onChange;
  }

  unlock() {
    if (!this.context) {
      this.context = new AudioContext();
      this.context.addEventListener("statechange", () => this.onChange());
    }
    if (this.context.state === "suspended") this.context.resume();
  }

  blocked() {
    return !this.context || this.context.state !== "running";
  }

  set(on) {
    if (on && !this.timer) {
      this.unlockQuietly();
      this.beep();
      this.timer = setInterval(() => this.beep(), PERIOD_MS);
    } else if (!on && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  // A single alert, e.g. when an escalation reaches the command centre.
  once() {
    this.unlockQuietly();
    this.beep();
  }

  // Some deployments allow audio without a gesture (kiosk flags); try, and stay quiet if not.
  unlockQuietly() {
    try {
      this.unlock();
    } catch (error) {
      console.info("audio locked until the first click", error);
    }
  }

  beep() {
    if (this.blocked()) return;
    const now = this.context.currentTime;
    [880, 660].forEach((frequency, index) => {
      const oscillator = this.context.createOscillator();
      const gain = this.context.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.2, now + index * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.001, now + index * 0.25 + 0.22);
      oscillator.connect(gain).connect(this.context.destination);
      oscillator.start(now + index * 0.25);
      oscillator.stop(now + index * 0.25 + 0.23);
    });
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  }
}
