#version 330 core
// Round point sprites: the coil markers, and the assistant's hand on the abdomen.
layout(location = 0) in vec3 a_position;
uniform mat4 u_view;
uniform mat4 u_proj;
uniform float u_size_px;
void main() {
    gl_Position = u_proj * u_view * vec4(a_position, 1.0);
    gl_PointSize = u_size_px;
}
