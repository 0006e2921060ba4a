// Dragging with pointer events: mouse, touch and pen alike (HTML5 drag-and-drop has no touch).
// The dragged element's handle needs `touch-action: none` so a finger drags instead of scrolling.
export function dragWithPointer(event, { ghost = null, grab = { x: 0, y: 0 }, onMove = () => {}, onDrop }) {
  if (event.button !== 0) return;
  event.preventDefault();
  if (ghost) document.body.append(ghost);
  const follow = (moved) => {
    if (ghost) {
      ghost.style.left = `${moved.clientX - grab.x}px`;
      ghost.style.top = `${moved.clientY - grab.y}px`;
    }
    onMove(moved);
  };
  const stop = () => {
    window.removeEventListener("pointermove", follow);
    window.removeEventListener("pointerup", drop);
    window.removeEventListener("pointercancel", stop);
    ghost?.remove();
  };
  // How far the pointer went: a tap (a few pixels at most) is not a drag.
  const drop = (released) => {
    stop();
    onDrop(released, Math.hypot(released.clientX - event.clientX, released.clientY - event.clientY));
  };
  follow(event);
  window.addEventListener("pointermove", follow);
  window.addEventListener("pointerup", drop);
  window.addEventListener("pointercancel", stop);
}
