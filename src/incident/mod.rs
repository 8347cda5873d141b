pub mod evidence;
pub mod forensics;
